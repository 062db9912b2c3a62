//! Kubernetes resource quantities (`500m`, `0.5`, `1Gi`, `1073741824`, `1e3`) compared by value.
//!
//! The API server stores quantities in a canonical spelling (`0.5` CPU becomes `500m`,
//! `1024Mi` becomes `1Gi`), so a spec and the live object can say the same amount differently.
//! Only equality is needed here: [`same_quantity`] parses both sides exactly (as a multiple of
//! 10⁻⁹, the API server's own precision) and compares.

/// The value of a quantity in units of 10⁻⁹, or `None` when `s` is not a quantity or does not
/// fit (then strata does not treat it as one and compares the text as usual).
pub fn nano_value(s: &str) -> Option<i128> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let digits_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(digits_end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    // mantissa × 10^exp10 × 2^exp2
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        e => {
            let exp = e.strip_prefix(['e', 'E'])?;
            let exp: i32 = exp.parse().ok()?;
            if exp.abs() > 30 {
                return None;
            }
            (exp, 0)
        }
    };
    let mut mantissa: i128 = 0;
    for c in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
    }
    // Scale to nano units: value = mantissa × 10^(exp10 − len(frac) + 9) × 2^exp2.
    let scale = exp10 - i32::try_from(frac.len()).ok()? + 9;
    let mut v = mantissa.checked_mul(1_i128.checked_shl(exp2)?)?;
    if scale >= 0 {
        v = v.checked_mul(10_i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    } else {
        let d = 10_i128.checked_pow(u32::try_from(-scale).ok()?)?;
        if v % d != 0 {
            // Finer than the API server keeps: it would round; not comparable exactly.
            return None;
        }
        v /= d;
    }
    Some(sign * v)
}

/// The quantity a JSON value spells, if any: a string (`"500m"`) or a number (`0.5`, as YAML
/// reads an unquoted `cpu: 0.5`).
pub fn value_of(v: &serde_json::Value) -> Option<i128> {
    match v {
        serde_json::Value::String(s) => nano_value(s),
        serde_json::Value::Number(n) => nano_value(&n.to_string()),
        _ => None,
    }
}

/// Whether two JSON values are quantities of the same amount.
pub fn same_quantity(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    matches!((value_of(a), value_of(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_by_value() {
        for (a, b) in [
            (json!("0.5"), json!("500m")),
            (json!(0.5), json!("500m")),
            (json!("1Gi"), json!("1073741824")),
            (json!(1073741824), json!("1Gi")),
            (json!("1024Mi"), json!("1Gi")),
            (json!("512Mi"), json!("536870912")),
            (json!("1000m"), json!("1")),
            (json!(2), json!("2")),
            (json!("1e3"), json!("1k")),
            (json!("1.5Gi"), json!("1536Mi")),
            (json!("100n"), json!("0.0000001")),
        ] {
            assert!(same_quantity(&a, &b), "{a} == {b}");
        }
    }

    #[test]
    fn different_or_not_quantities() {
        for (a, b) in [
            (json!("1G"), json!("1Gi")),
            (json!("500m"), json!("0.4")),
            (json!("abc"), json!("abc")),
            (json!("1.2.3"), json!("1.2.3")),
            (json!(true), json!(true)),
            (json!("1x"), json!("1x")),
            (json!("0.1n"), json!("1n")),
        ] {
            assert!(!same_quantity(&a, &b), "{a} != {b}");
        }
        assert_eq!(nano_value("-1m"), Some(-1_000_000));
        assert_eq!(nano_value(""), None);
        assert_eq!(nano_value("."), None);
    }
}
