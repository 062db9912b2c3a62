//! The JSON Schema of strata.yaml, generated from the same types the loader decodes (core
//! sections here, each lowering's section from its own config types). `schemas/strata.schema.json`
//! is this output, committed; a test fails when it drifts.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::lower;
use crate::spec::{KNOWN_PROVIDERS, Service, StateConfig};

/// Generates the schema (draft 2020-12, which yaml-language-server understands).
pub fn generate() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut properties = Map::new();
    properties.insert("version".into(), json!({"const": 1, "description": "Spec format version."}));
    properties.insert(
        "project".into(),
        json!({"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", "description": "Project name; becomes a label on every object strata manages."}),
    );
    properties.insert("state".into(), generator.subschema_for::<StateConfig>().to_value());
    let providers: Map<String, Value> = KNOWN_PROVIDERS
        .iter()
        .filter(|p| **p != "test")
        .map(|p| (p.to_string(), json!({"type": "object", "description": format!("Settings of the {p} provider; `rate_limit: {{per_second, burst}}` is understood by every provider.")})))
        .collect();
    properties
        .insert("providers".into(), json!({"type": "object", "properties": providers, "additionalProperties": false}));
    properties.insert(
        "services".into(),
        json!({"type": "object", "additionalProperties": generator.subschema_for::<Service>().to_value(), "description": "Existing workloads the platform wraps."}),
    );
    for l in lower::registry() {
        properties.insert(l.section().into(), l.schema(&mut generator).to_value());
    }
    let overlay_keys: Map<String, Value> = properties
        .keys()
        .filter(|k| !matches!(k.as_str(), "version" | "project"))
        .map(|k| (k.clone(), json!({})))
        .collect();
    properties.insert(
        "environments".into(),
        json!({
            "type": "object",
            "description": "Overlays deep-merged onto the base spec, selected with --env (null removes a key).",
            "additionalProperties": {"type": ["object", "null"], "properties": overlay_keys, "additionalProperties": false}
        }),
    );
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://strata.dev/schemas/strata.schema.json",
        "title": "strata.yaml",
        "type": "object",
        "required": ["version", "project"],
        "properties": properties,
        "additionalProperties": false,
    });
    let defs = generator.take_definitions(true);
    if !defs.is_empty() {
        root["$defs"] = Value::Object(defs.into_iter().collect());
    }
    // The loader reads `state:` without `backend` as the local backend (`state: { path: x }`);
    // the tagged enum's schema would require the tag.
    if let Some(variants) = root.pointer_mut("/$defs/StateConfig/oneOf").and_then(Value::as_array_mut) {
        for v in variants.iter_mut().filter(|v| v.pointer("/properties/backend/const") == Some(&json!("local"))) {
            if let Some(o) = v.as_object_mut() {
                o.remove("required");
            }
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_schema_accepts_and_refuses_what_the_loader_does() {
        let schema = super::generate();
        let local = &schema["$defs"]["StateConfig"]["oneOf"][0];
        assert_eq!(local["properties"]["backend"]["const"], "local");
        assert!(local.get("required").is_none(), "`state: {{ path: x }}` loads as the local backend: {local}");
        let s3 = &schema["$defs"]["StateConfig"]["oneOf"][1];
        assert_eq!(s3["required"].as_array().map(|r| r.contains(&json!("backend"))), Some(true));
        // Resource entries refuse unknown keys, as `resources.rs` does.
        let entry = &schema["$defs"]["RawResource"];
        assert_eq!(entry["additionalProperties"], json!(false), "{entry}");
    }

    #[test]
    fn committed_schema_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/strata.schema.json");
        let generated = serde_json::to_string_pretty(&super::generate()).unwrap() + "\n";
        if std::env::var_os("STRATA_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/strata.schema.json is out of date: run `STRATA_UPDATE_SCHEMA=1 cargo test -p strata-engine committed_schema` and commit it"
        );
    }
}
