//! Observed attributes reported in the spec's spelling when the API server stored the same
//! value differently, so the engine's generic diff sees no change where there is none.
//!
//! The API server rewrites some values on write:
//!
//! * a Secret's `stringData` is write-only: it is folded into base64 `data`, so a spec with
//!   `stringData` would otherwise show an update on every plan;
//! * resource quantities are stored canonically (`cpu: 0.5` becomes `500m`, `1024Mi` becomes
//!   `1Gi`).
//!
//! [`toward_desired`] changes the observed object only where it holds the same value as the
//! desired manifest: a real difference is left as it is and shows in the plan.

use serde_json::{Map, Value};

use crate::quantity::same_quantity;

/// Maps whose values are all quantities (container `resources.limits/requests`, ResourceQuota
/// `spec.hard`, LimitRange `limits[].max/min/default/...`, pod `overhead`).
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "hard",
    "used",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "overhead",
    "capacity",
    "allocatable",
];

/// Single quantity fields: `emptyDir.sizeLimit`, an HPA metric target's `averageValue`/`value`.
fn is_quantity_field(parent: Option<&str>, key: &str) -> bool {
    key == "sizeLimit" || (parent == Some("target") && matches!(key, "averageValue" | "value"))
}

/// Rewrites `observed` toward `desired` where they hold the same value (see the module docs).
pub fn toward_desired(observed: &mut Value, desired: &Value) {
    fold_string_data(observed, desired);
    quantities(observed, desired, None);
}

/// A Secret's observed `data` entries that encode exactly the desired `stringData` values are
/// reported as those `stringData` entries.
fn fold_string_data(observed: &mut Value, desired: &Value) {
    if observed.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    let Some(wanted) = desired.get("stringData").and_then(Value::as_object) else { return };
    let Some(obs) = observed.as_object_mut() else { return };
    let mut folded = Map::new();
    if let Some(data) = obs.get_mut("data").and_then(Value::as_object_mut) {
        for (k, v) in wanted {
            let Some(s) = v.as_str() else { continue };
            if data.get(k).and_then(Value::as_str) == Some(base64(s.as_bytes()).as_str()) {
                data.shift_remove(k);
                folded.insert(k.clone(), v.clone());
            }
        }
        if data.is_empty() && desired.get("data").is_none() {
            obs.shift_remove("data");
        }
    }
    if !folded.is_empty() {
        let slot = obs.entry("stringData").or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = slot.as_object_mut() {
            m.extend(folded);
        }
    }
}

/// Walks both trees together (lists by index) and copies the desired spelling of every
/// quantity that is equal by value.
fn quantities(observed: &mut Value, desired: &Value, parent: Option<&str>) {
    match (observed, desired) {
        (Value::Object(obs), Value::Object(want)) => {
            let all_quantities = parent.is_some_and(|p| QUANTITY_MAPS.contains(&p));
            for (k, w) in want {
                let Some(o) = obs.get_mut(k) else { continue };
                if (all_quantities || is_quantity_field(parent, k)) && o != w && same_quantity(o, w) {
                    *o = w.clone();
                } else {
                    quantities(o, w, Some(k));
                }
            }
        }
        (Value::Array(obs), Value::Array(want)) => {
            for (o, w) in obs.iter_mut().zip(want) {
                quantities(o, w, parent);
            }
        }
        _ => {}
    }
}

/// Standard base64 with padding, as the API server encodes Secret data.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folds_matching_string_data_only() {
        let desired = json!({"kind": "Secret", "stringData": {"password": "hunter2", "token": "new"}});
        let mut observed = json!({"kind": "Secret", "type": "Opaque",
            "data": {"password": "aHVudGVyMg==", "token": "b2xk", "other": "eA=="}});
        toward_desired(&mut observed, &desired);
        assert_eq!(
            observed,
            json!({"kind": "Secret", "type": "Opaque",
                "data": {"token": "b2xk", "other": "eA=="}, "stringData": {"password": "hunter2"}})
        );
        let mut all = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}});
        toward_desired(&mut all, &json!({"kind": "Secret", "stringData": {"password": "hunter2"}}));
        assert_eq!(all, json!({"kind": "Secret", "stringData": {"password": "hunter2"}}));
        // Not a Secret: untouched.
        let mut cm = json!({"kind": "ConfigMap", "data": {"password": "aHVudGVyMg=="}});
        let before = cm.clone();
        toward_desired(&mut cm, &json!({"stringData": {"password": "hunter2"}}));
        assert_eq!(cm, before);
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn quantities_in_the_desired_spelling_when_equal() {
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1.10", "resources": {
                "limits": {"cpu": 0.5, "memory": "1Gi"},
                "requests": {"cpu": "250m", "memory": "512Mi"}}}]}},
            "hard": {"requests.storage": "1073741824"}}});
        let mut observed = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1.1", "resources": {
                "limits": {"cpu": "500m", "memory": "1073741824"},
                "requests": {"cpu": "300m", "memory": "512Mi"}}}]}},
            "hard": {"requests.storage": "1Gi"}}});
        toward_desired(&mut observed, &desired);
        let c = &observed["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"], json!({"cpu": 0.5, "memory": "1Gi"}));
        // A real difference stays, and so does a non-quantity that parses as a number.
        assert_eq!(c["resources"]["requests"]["cpu"], "300m");
        assert_eq!(c["image"], "app:1.1");
        assert_eq!(observed["spec"]["hard"]["requests.storage"], "1073741824");
    }

    #[test]
    fn hpa_targets() {
        let desired = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "0.5Gi"}}}]}});
        let mut observed = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "512Mi"}}}]}});
        toward_desired(&mut observed, &desired);
        assert_eq!(observed, desired);
    }
}
