//! Resource quantities, stored in the canonical form the apiserver writes
//! (k8s.io/apimachinery `resource.Quantity`), so clients see `500m` where
//! they sent `0.5` and must compare quantities by value.
//!
//! Canonical form rules, as in `Quantity.CanonicalizeBytes`:
//!
//! * the format family comes from the suffix the client wrote: binary
//!   (`Ki` … `Ei`), decimal SI (`n u m k M G T P E` or none) or decimal
//!   exponent (`e3`);
//! * a binary quantity whose value is below 1024 in magnitude, or not a
//!   whole number, is written as decimal SI;
//! * binary: the largest power of 1024 that divides the value (`1024Mi` →
//!   `1Gi`, `1536Mi` stays);
//! * decimal: all factors of ten are taken out of the mantissa, then the
//!   exponent is lowered to a multiple of three (`0.5` → `500m`, `1000` →
//!   `1k`, `1073741824` stays);
//! * precision is nano (10⁻⁹); finer values round up (`0.1n` → `1n`).

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

const NANO: i128 = 1_000_000_000;

/// The apiserver's message for a string that is not a quantity.
fn not_a_quantity(s: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {s:?})"
    ))
}

/// Parses a quantity into its value in nano units and its format family.
fn parse(s: &str) -> Option<(i128, Format)> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let (exp10, exp2, format): (i32, u32, Format) = match suffix {
        "" => (0, 0, Format::DecimalSI),
        "n" => (-9, 0, Format::DecimalSI),
        "u" => (-6, 0, Format::DecimalSI),
        "m" => (-3, 0, Format::DecimalSI),
        "k" => (3, 0, Format::DecimalSI),
        "M" => (6, 0, Format::DecimalSI),
        "G" => (9, 0, Format::DecimalSI),
        "T" => (12, 0, Format::DecimalSI),
        "P" => (15, 0, Format::DecimalSI),
        "E" => (18, 0, Format::DecimalSI),
        "Ki" => (0, 10, Format::BinarySI),
        "Mi" => (0, 20, Format::BinarySI),
        "Gi" => (0, 30, Format::BinarySI),
        "Ti" => (0, 40, Format::BinarySI),
        "Pi" => (0, 50, Format::BinarySI),
        "Ei" => (0, 60, Format::BinarySI),
        e => {
            let exp: i32 = e.strip_prefix(['e', 'E'])?.parse().ok()?;
            if exp.abs() > 30 {
                return None;
            }
            (exp, 0, Format::DecimalExponent)
        }
    };
    let mut mantissa: i128 = 0;
    for c in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
    }
    let mut v = mantissa.checked_mul(1_i128.checked_shl(exp2)?)?;
    let scale = exp10 - i32::try_from(frac.len()).ok()? + 9;
    if scale >= 0 {
        v = v.checked_mul(10_i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    } else {
        // Finer than nano: rounded up, as the apiserver does.
        let d = 10_i128.checked_pow(u32::try_from(-scale).ok()?)?;
        v = v / d + i128::from(v % d != 0);
    }
    Some((if negative { -v } else { v }, format))
}

/// The canonical spelling of a quantity, or `None` when `s` is not one.
pub fn canonical(s: &str) -> Option<String> {
    let (v, mut format) = parse(s)?;
    if v == 0 {
        return Some("0".into());
    }
    if format == Format::BinarySI && (v.abs() < 1024 * NANO || v % NANO != 0) {
        format = Format::DecimalSI;
    }
    let sign = if v < 0 { "-" } else { "" };
    let v = v.abs();
    if format == Format::BinarySI {
        let (mut n, mut exp) = (v / NANO, 0);
        while exp < 6 && n % 1024 == 0 {
            n /= 1024;
            exp += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
        return Some(format!("{sign}{n}{suffix}"));
    }
    let (mut mantissa, mut exp) = (v, -9_i32);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    match exp.rem_euclid(3) {
        1 => {
            mantissa *= 10;
            exp -= 1;
        }
        2 => {
            mantissa *= 100;
            exp -= 2;
        }
        _ => {}
    }
    let si = match exp {
        -9 => Some("n"),
        -6 => Some("u"),
        -3 => Some("m"),
        0 => Some(""),
        3 => Some("k"),
        6 => Some("M"),
        9 => Some("G"),
        12 => Some("T"),
        15 => Some("P"),
        18 => Some("E"),
        _ => None,
    };
    let suffix = match (format, si) {
        (_, _) if exp == 0 => String::new(),
        (Format::DecimalSI, Some(s)) => s.to_string(),
        _ => format!("e{exp}"),
    };
    Some(format!("{sign}{mantissa}{suffix}"))
}

/// Canonicalises the quantity at `v` in place (a string, or a number as
/// YAML reads `cpu: 0.5`).
fn canonicalise(v: &mut Value) -> ApiResult<()> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Ok(()),
    };
    *v = Value::String(canonical(&text).ok_or_else(|| not_a_quantity(&text))?);
    Ok(())
}

/// Where quantities live in the built-in kinds this server serves, as
/// paths whose `*` is every element of a list or every value of a map.
fn quantity_paths(group: &str, kind: &str) -> &'static [&'static [&'static str]] {
    match (group, kind) {
        ("apps", "Deployment") => &[
            &["spec", "template", "spec", "containers", "*", "resources", "limits", "*"],
            &["spec", "template", "spec", "containers", "*", "resources", "requests", "*"],
            &["spec", "template", "spec", "initContainers", "*", "resources", "limits", "*"],
            &["spec", "template", "spec", "initContainers", "*", "resources", "requests", "*"],
            &["spec", "template", "spec", "overhead", "*"],
            &["spec", "template", "spec", "volumes", "*", "emptyDir", "sizeLimit"],
        ],
        ("", "ResourceQuota") => &[&["spec", "hard", "*"]],
        ("", "LimitRange") => &[
            &["spec", "limits", "*", "max", "*"],
            &["spec", "limits", "*", "min", "*"],
            &["spec", "limits", "*", "default", "*"],
            &["spec", "limits", "*", "defaultRequest", "*"],
            &["spec", "limits", "*", "maxLimitRequestRatio", "*"],
        ],
        ("autoscaling", "HorizontalPodAutoscaler") => &[
            &["spec", "metrics", "*", "*", "target", "value"],
            &["spec", "metrics", "*", "*", "target", "averageValue"],
        ],
        _ => &[],
    }
}

fn walk(v: &mut Value, path: &[&str]) -> ApiResult<()> {
    let Some((first, rest)) = path.split_first() else {
        return canonicalise(v);
    };
    match (v, *first) {
        (Value::Array(items), "*") => items.iter_mut().try_for_each(|i| walk(i, rest)),
        (Value::Object(m), "*") => m.values_mut().try_for_each(|i| walk(i, rest)),
        (Value::Object(m), key) => m.get_mut(key).map_or(Ok(()), |child| walk(child, rest)),
        _ => Ok(()),
    }
}

/// Rewrites every quantity of a built-in object (or partial object, such as
/// an apply configuration) into its canonical form.
pub fn normalise(group: &str, kind: &str, obj: &mut Value) -> ApiResult<()> {
    for path in quantity_paths(group, kind) {
        walk(obj, path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_forms() {
        for (input, want) in [
            ("0.5", "500m"),
            ("500m", "500m"),
            ("1000m", "1"),
            ("1.5", "1500m"),
            ("1000", "1k"),
            ("100", "100"),
            ("1073741824", "1073741824"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1.5Ki", "1536"),
            ("512Ki", "512Ki"),
            ("100Mi", "100Mi"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1.5e3", "1500"),
            ("0", "0"),
            ("0Gi", "0"),
            ("0.1n", "1n"),
            ("-0.5", "-500m"),
            ("2000000000", "2G"),
            ("10M", "10M"),
        ] {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
        for bad in ["", "abc", "1.2.3", "1x", "Gi", "1iG"] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn normalises_known_paths_only() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "app:1.10", "resources": {"limits": {"cpu": 0.5, "memory": "1024Mi"}}}]}}}});
        normalise("apps", "Deployment", &mut d).unwrap();
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"], json!({"cpu": "500m", "memory": "1Gi"}));
        assert_eq!(c["image"], "app:1.10");
        let mut q = json!({"spec": {"hard": {"cpu": "lots"}}});
        assert!(normalise("", "ResourceQuota", &mut q).is_err());
        let mut cm = json!({"data": {"cpu": "0.5"}});
        normalise("", "ConfigMap", &mut cm).unwrap();
        assert_eq!(cm["data"]["cpu"], "0.5");
    }
}
