//! Value types users write as strings: durations (`30s`, `5m`) and percentages (`10%`).
//!
//! They parse at decode time, so a bad value is a diagnostic at its own span, and they keep the
//! original text so generated objects can use the form each API expects.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written as a number and a unit: `250ms`, `10s`, `5m`, `1h`, `30d`. Compound forms
/// (`1h30m`) are accepted too, as in Go and Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    pub millis: u64,
}

impl Duration {
    /// The longest duration a spec may hold: 3650 days (10 years). Every duration strata turns
    /// into a timer, a deadline or an API field fits in it with room to spare.
    pub const MAX: Duration = Duration { millis: 3650 * 86_400_000 };

    pub fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.millis as f64 / 1000.0
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("`{s}` is not a duration: write a number followed by ms, s, m, h, d or w, like `30s` or `5m`");
        let t = s.trim();
        if t.is_empty() {
            return Err(bad());
        }
        if t == "0" {
            return Ok(Duration { millis: 0 });
        }
        // Summed as f64 and checked against MAX before the conversion: 20 digits of seconds
        // (or a 400-digit number, which parses as infinity) must be an error, not a wrap.
        let mut total: f64 = 0.0;
        let mut rest = t;
        while !rest.is_empty() {
            let num_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
            if num_end == 0 {
                return Err(bad());
            }
            let number: f64 = rest[..num_end].parse().map_err(|_| bad())?;
            rest = &rest[num_end..];
            let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let unit_ms = match &rest[..unit_end] {
                "ms" => 1.0,
                "s" => 1000.0,
                "m" => 60_000.0,
                "h" => 3_600_000.0,
                "d" => 86_400_000.0,
                "w" => 604_800_000.0,
                _ => return Err(bad()),
            };
            rest = &rest[unit_end..];
            total += (number * unit_ms).round();
        }
        // `is_nan` cannot happen (digits only), but a NaN must not pass either.
        if total.is_nan() || total > Self::MAX.millis as f64 {
            return Err(format!("`{s}` is out of range: a duration is at most 10 years: write at most `3650d`"));
        }
        Ok(Duration { millis: total as u64 })
    }

    /// Go/Envoy style (`2s`, `0.250s`), as Istio and Linkerd expect.
    pub fn to_go(&self) -> String {
        if self.millis.is_multiple_of(1000) { format!("{}s", self.millis / 1000) } else { format!("{}ms", self.millis) }
    }

    /// Prometheus style: the largest unit that divides exactly (`5m`, `1h`, `30d`).
    pub fn to_prometheus(&self) -> String {
        for (unit, ms) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
            if self.millis >= ms && self.millis.is_multiple_of(ms) {
                return format!("{}{unit}", self.millis / ms);
            }
        }
        format!("{}ms", self.millis)
    }

    pub fn as_secs(&self) -> u64 {
        self.millis / 1000
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_prometheus())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like `30s`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::default())
                } else {
                    Err(E::custom(format!("`{v}` has no unit: write `{v}s`, `{v}m` or another unit")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 { Err(E::custom("a duration cannot be negative")) } else { self.visit_u64(v as u64) }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w))+)$",
            "description": "A duration: a number and a unit (ms, s, m, h, d, w), like `30s` or `5m`, or `0`."
        })
    }
}

/// A percentage in [0, 100], written `10%`, `0.1%` or as a bare number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percent(pub f64);

impl Percent {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let num = t.strip_suffix('%').unwrap_or(t).trim();
        let v: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a percentage: write a number between 0 and 100, like `10%`"))?;
        Self::check(v)
    }

    fn check(v: f64) -> Result<Self, String> {
        if !(0.0..=100.0).contains(&v) || v.is_nan() {
            return Err(format!("{v}% is out of range: a percentage is between 0 and 100"));
        }
        Ok(Percent(v))
    }

    pub fn value(&self) -> f64 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage like `10%`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                Percent::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                Percent::check(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%?$"},
                {"type": "number", "minimum": 0, "maximum": 100}
            ],
            "description": "A percentage between 0 and 100, like `10%`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(Duration::parse("250ms").unwrap().millis, 250);
        assert_eq!(Duration::parse("10s").unwrap().millis, 10_000);
        assert_eq!(Duration::parse("1h30m").unwrap().millis, 5_400_000);
        assert_eq!(Duration::parse("30d").unwrap().to_prometheus(), "30d");
        assert_eq!(Duration::parse("1.5s").unwrap().to_go(), "1500ms");
        assert!(Duration::parse("10").is_err());
        assert!(Duration::parse("10x").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("").is_err());
    }

    #[test]
    fn durations_past_the_maximum_are_errors() {
        assert_eq!(Duration::parse("3650d").unwrap(), Duration::MAX);
        assert_eq!(Duration::parse("520w10d").unwrap(), Duration::MAX);
        let huge = format!("{}s", "9".repeat(400));
        for s in
            ["18446744073709551615s1s", "3650d1ms", "99999999999999999999w", "18446744073709551615ms", huge.as_str()]
        {
            let e = Duration::parse(s).unwrap_err();
            assert!(e.contains("out of range"), "{s}: {e}");
        }
    }

    #[test]
    fn parses_percentages() {
        assert_eq!(Percent::parse("10%").unwrap().value(), 10.0);
        assert_eq!(Percent::parse("0.1%").unwrap().value(), 0.1);
        assert_eq!(Percent::parse("50").unwrap().value(), 50.0);
        assert!(Percent::parse("101%").is_err());
        assert!(Percent::parse("ten").is_err());
        let p: Percent = serde_json::from_value(serde_json::json!(12.5)).unwrap();
        assert_eq!(p.value(), 12.5);
        assert!(serde_json::from_value::<Percent>(serde_json::json!(-1)).is_err());
    }
}
