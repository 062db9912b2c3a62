//! Helpers over `serde_json::Value` shared by the engine and providers.

use serde_json::Value;

/// Placeholder the engine shows (and stores in saved plans) for a value only known after apply.
pub const UNKNOWN: &str = "(known after apply)";

/// Placeholder printed instead of a sensitive value.
pub const SENSITIVE: &str = "(sensitive)";

/// Looks up a value by path segments (object keys, or array indexes as decimal strings).
pub fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Renders path segments as a dotted attribute name for humans: `spec.ports[0].port`.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Replaces every value under `path` with [`SENSITIVE`], creating nothing that was not there.
pub fn mask_at(v: &mut Value, path: &[String]) {
    match path.split_first() {
        None => mask_all(v),
        Some((head, rest)) => match v {
            Value::Object(m) => {
                if head == "*" {
                    m.values_mut().for_each(|c| mask_at(c, rest));
                } else if let Some(c) = m.get_mut(head) {
                    mask_at(c, rest);
                }
            }
            Value::Array(a) => {
                if head == "*" {
                    a.iter_mut().for_each(|c| mask_at(c, rest));
                } else if let Some(c) = head.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    mask_at(c, rest);
                }
            }
            _ => {}
        },
    }
}

fn mask_all(v: &mut Value) {
    match v {
        Value::Object(m) => m.values_mut().for_each(mask_all),
        Value::Array(a) => a.iter_mut().for_each(mask_all),
        other => *other = Value::String(SENSITIVE.to_string()),
    }
}

/// Splits a pattern like `/data/*` into segments.
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// Recursively merges `overlay` onto `base`: objects merge key by key, anything else replaces.
/// A `null` in the overlay removes the key, so environments can drop a base setting.
pub fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, ov) in o {
                if ov.is_null() {
                    b.shift_remove(k);
                } else if let Some(bv) = b.get_mut(k) {
                    deep_merge(bv, ov);
                } else {
                    b.insert(k.clone(), ov.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_and_display() {
        let v = json!({"spec": {"ports": [{"port": 80}]}});
        let p: Vec<String> = ["spec", "ports", "0", "port"].map(String::from).to_vec();
        assert_eq!(get(&v, &p), Some(&json!(80)));
        assert_eq!(display_path(&p), "spec.ports[0].port");
    }

    #[test]
    fn masks_nested_values() {
        let mut v = json!({"data": {"a": "x", "b": {"c": 1}}, "keep": "y"});
        mask_at(&mut v, &pointer_segments("/data"));
        assert_eq!(v, json!({"data": {"a": SENSITIVE, "b": {"c": SENSITIVE}}, "keep": "y"}));
        let mut w = json!({"env": [{"value": "s"}, {"value": "t"}]});
        mask_at(&mut w, &pointer_segments("/env/*/value"));
        assert_eq!(w, json!({"env": [{"value": SENSITIVE}, {"value": SENSITIVE}]}));
    }

    #[test]
    fn deep_merge_overlays() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 1});
        deep_merge(&mut base, &json!({"a": {"c": 3}, "d": [9], "e": null}));
        assert_eq!(base, json!({"a": {"b": 1, "c": 3}, "d": [9]}));
    }
}
