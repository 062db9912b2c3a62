//! `meta.k8s.io/v1` Table responses, which kubectl asks for (via the Accept
//! header) to print `kubectl get` output. Every kind gets Name and Age
//! columns, like the apiserver's default table convertor.

use serde_json::{Value, json};

/// Builds a Table of `items`. `include_object` is the `includeObject` query
/// parameter: `None` (omit), `Object` (whole object) or, by default,
/// `Metadata` (a PartialObjectMetadata).
pub fn table(
    items: &[Value],
    resource_version: Option<Value>,
    cont: Option<String>,
    include_object: Option<&str>,
) -> Value {
    let now = chrono::Utc::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let name = obj.pointer("/metadata/name").cloned().unwrap_or_default();
            let age = obj
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| human_duration((now - t.with_timezone(&chrono::Utc)).num_seconds()))
                .unwrap_or_else(|| "<unknown>".into());
            let mut row = json!({"cells": [name, age]});
            match include_object {
                Some("None") => {}
                Some("Object") => row["object"] = obj.clone(),
                _ => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj.get("metadata").cloned().unwrap_or_default(),
                    })
                }
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = rv;
    }
    if let Some(c) = cont {
        metadata["continue"] = c.into();
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
        ],
        "rows": rows,
    })
}

/// kubectl's short age format (`45s`, `3m10s`, `5h`, `12d`, `3y45d`).
fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => format!("{d}d{}h", h % 24),
        _ if d < 365 * 2 => format!("{d}d"),
        _ if d < 365 * 8 => format!("{}y{}d", d / 365, d % 365),
        _ => format!("{}y", d / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(190), "3m10s");
        assert_eq!(human_duration(3600 * 5), "5h0m");
        assert_eq!(human_duration(86400 * 12), "12d");
    }
}
