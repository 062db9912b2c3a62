//! The comparison the engine makes between a desired document and an observed one: only the
//! attributes the desired document sets count. Used by this crate's tests to prove that a read
//! after an apply shows no change.

use serde_json::Value;

/// One difference: the path of keys, the desired value and the observed one (`None` = absent).
pub type Difference = (Vec<String>, Value, Option<Value>);

/// Differences between `desired` and `observed`, looking only at what `desired` sets: objects
/// compare key by key over the desired keys, arrays element by element (and by length),
/// scalars by equality.
pub fn subset_diff(desired: &Value, observed: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(desired, Some(observed), &mut Vec::new(), &mut out);
    out
}

fn walk(d: &Value, o: Option<&Value>, path: &mut Vec<String>, out: &mut Vec<Difference>) {
    match (d, o) {
        (Value::Object(dm), Some(Value::Object(om))) => {
            for (k, dv) in dm {
                path.push(k.clone());
                walk(dv, om.get(k), path, out);
                path.pop();
            }
        }
        (Value::Array(da), Some(Value::Array(oa))) if da.len() == oa.len() => {
            for (i, (dv, ov)) in da.iter().zip(oa).enumerate() {
                path.push(i.to_string());
                walk(dv, Some(ov), path, out);
                path.pop();
            }
        }
        (d, Some(o)) if d == o => {}
        (d, o) => out.push((path.clone(), d.clone(), o.cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_desired_keys_count() {
        let d = json!({"a": 1, "b": {"c": [1, {"x": 2}]}});
        let o = json!({"a": 1, "b": {"c": [1, {"x": 2, "y": 3}], "z": 0}, "extra": true});
        assert!(subset_diff(&d, &o).is_empty());
        let o2 = json!({"a": 2, "b": {"c": [1]}});
        let diffs = subset_diff(&d, &o2);
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].0, vec!["a"]);
        assert_eq!(diffs[1].0, vec!["b", "c"]);
    }
}
