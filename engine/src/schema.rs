//! The JSON Schema of strata.yaml, generated from the same types the loader and the plugins
//! decode: the core keys here, each section's from its config types, each provider's settings
//! and each state backend's settings from their plugins. `schemas/strata.schema.json` is this
//! output for the CLI's registry, committed; a test of the CLI fails when it drifts.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::lower;
use crate::registry::Registry;
use crate::spec::Service;
use crate::state::DEFAULT_BACKEND;

/// Generates the schema (draft 2020-12, which yaml-language-server understands) for the plugins
/// in `registry`.
pub fn generate(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut properties = Map::new();
    properties.insert("version".into(), json!({"const": 1, "description": "Spec format version."}));
    properties.insert(
        "project".into(),
        json!({"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", "description": "Project name; becomes a label on every object strata manages."}),
    );
    properties.insert("state".into(), state_schema(registry));
    properties.insert("providers".into(), providers_schema(registry));
    properties.insert(
        "services".into(),
        json!({"type": "object", "additionalProperties": generator.subschema_for::<Service>().to_value(), "description": "Existing workloads the platform wraps."}),
    );
    let provider_names: Vec<&str> = registry.providers().iter().map(|p| p.name()).collect();
    properties.insert("resources".into(), lower::raw_resources_schema(&mut generator, &provider_names).to_value());
    for section in registry.sections() {
        properties.insert(section.name().into(), section.schema(&mut generator).to_value());
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
    root
}

/// A generator whose schemas carry no references: a plugin's schema is embedded whole into
/// another object (the `backend` key added to it), so it must not point into `$defs`.
pub fn inline_generator() -> schemars::SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.into_generator()
}

/// `state:`: one alternative per backend, each the backend's settings plus `backend: <name>`
/// (optional for the default backend, as the loader reads it).
fn state_schema(registry: &Registry) -> Value {
    let variants: Vec<Value> = registry
        .backends()
        .iter()
        .map(|b| {
            let mut variant = b.schema(&mut inline_generator()).to_value();
            let name = b.name();
            let backend = json!({"const": name, "description": format!("The `{name}` state backend.")});
            if let Some(o) = variant.as_object_mut() {
                o.remove("$schema");
                o.remove("title");
                o.entry("properties").or_insert_with(|| json!({}))["backend"] = backend;
                if name != DEFAULT_BACKEND {
                    let required = o.entry("required").or_insert_with(|| json!([]));
                    if let Some(r) = required.as_array_mut() {
                        r.insert(0, json!("backend"));
                    }
                }
            }
            variant
        })
        .collect();
    json!({"description": "Where state lives. Default: a local file under `.strata/`.", "oneOf": variants})
}

/// `providers:`: each registered provider's settings schema, plus the engine's `rate_limit`.
fn providers_schema(registry: &Registry) -> Value {
    let rate_limit = json!({
        "description": "Requests per second and burst (token bucket), separate from --parallelism.",
        "type": "object",
        "properties": {"per_second": {"type": "number", "exclusiveMinimum": 0}, "burst": {"type": "integer", "minimum": 1}},
        "required": ["per_second"],
        "additionalProperties": false,
    });
    let providers: Map<String, Value> = registry
        .providers()
        .iter()
        .map(|p| {
            let mut settings = p.settings_schema();
            // Providers give self-contained schemas (no `$defs`); the engine adds `rate_limit`.
            if let Some(props) = settings.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert("rate_limit".into(), rate_limit.clone());
            }
            if let Some(o) = settings.as_object_mut() {
                o.remove("$schema");
                o.insert("description".into(), json!(format!("Settings of the {} provider.", p.name())));
            }
            (p.name().to_string(), settings)
        })
        .collect();
    json!({"type": "object", "properties": providers, "additionalProperties": false})
}
