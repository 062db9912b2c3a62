//! `resources:` — raw provider resources, the escape hatch for anything no section covers.
//!
//! ```yaml
//! resources:
//!   - name: edge-config            # optional for kubernetes; the address is resources.<name>
//!     depends_on: [cdn.assets]
//!     kubernetes: { apiVersion: v1, kind: ConfigMap, metadata: {...}, data: {...} }
//!   - name: zone-record
//!     aws: { kind: route53_record, ... }   # other providers: `kind` plus the attributes
//! ```

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::Value;
use strata_sdk::{Address, Resource};

use crate::diag::did_you_mean;
use crate::spec::{SpecContext, path};

/// The keys of a raw resource entry besides the provider key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // fields are read from the JSON value; the struct exists for the schema
struct EntryKeys {
    /// Name used in the address (`resources.<name>`); required except for Kubernetes objects,
    /// whose address is derived from kind, namespace and name.
    name: Option<String>,
    /// Addresses this resource must be applied after (in addition to its references).
    #[serde(default)]
    depends_on: Vec<String>,
}

/// JSON Schema of the `resources:` list: each entry has `name`, `depends_on` and exactly one key
/// naming a registered provider, whose value is that provider's document (a Kubernetes
/// manifest; for other providers `kind` plus the attributes).
pub fn schema(generator: &mut SchemaGenerator, providers: &[&str]) -> Schema {
    let keys = EntryKeys::json_schema(generator).to_value();
    let mut properties = keys["properties"].as_object().cloned().unwrap_or_default();
    for p in providers {
        let description = if *p == "kubernetes" {
            "A Kubernetes manifest (any kind, core or custom).".to_string()
        } else {
            format!("A resource of the `{p}` provider: `kind` plus its attributes.")
        };
        properties.insert(p.to_string(), serde_json::json!({"type": "object", "description": description}));
    }
    let one_provider: Vec<Value> = providers.iter().map(|p| serde_json::json!({"required": [p]})).collect();
    let entry = serde_json::json!({
        "description": "One raw resource: `name`, `depends_on` and exactly one provider key.",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        "oneOf": one_provider,
    });
    generator.definitions_mut().insert("RawResource".into(), entry);
    Schema::try_from(serde_json::json!({"type": "array", "items": {"$ref": "#/$defs/RawResource"}}))
        .expect("an object is a schema")
}

/// Lowers the `resources:` list, moving each entry's document into its resource, and returns
/// each resource with the index of the entry it came from (diagnostics point there).
///
/// Loading takes the list out of the merged document and hands it here rather than lending it
/// to a section's `lower`: the entries are the resources' own documents, and at 100k entries a
/// copy is ~150 MiB held through the rest of loading.
pub fn lower_entries(cx: &mut SpecContext<'_>, section: Value) -> Vec<(usize, Resource)> {
    let Value::Array(items) = section else {
        cx.error(
            &path(["resources"]),
            "spec::wrong-type",
            "Wrong type",
            "`resources` must be a list of resources.",
            None,
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if let Some(r) = lower_one(cx, i, item) {
            out.push((i, r));
        }
    }
    out
}

const ENTRY_KEYS: &[&str] = &["name", "depends_on"];

fn lower_one(cx: &mut SpecContext<'_>, i: usize, item: Value) -> Option<Resource> {
    let idx = i.to_string();
    let here = path(["resources", idx.as_str()]);
    let Value::Object(mut entry) = item else {
        cx.error(
            &here,
            "spec::wrong-type",
            "Wrong type",
            "Each entry of `resources` must be a map with one provider key, like `kubernetes: {...}`.",
            None,
        );
        return None;
    };
    let names = cx.names;
    let providers = &names.providers;
    let mut provider: Option<&str> = None;
    let mut ok = true;
    for key in entry.keys() {
        if ENTRY_KEYS.contains(&key.as_str()) {
            continue;
        }
        if providers.contains(&key.as_str()) {
            if let Some(first) = provider {
                cx.key_error(
                    &path(["resources", idx.as_str(), key.as_str()]),
                    "spec::ambiguous-resource",
                    "More than one provider",
                    format!(
                        "This resource names both `{first}` and `{key}`; each entry describes exactly one resource."
                    ),
                    Some("split it into two entries".into()),
                );
                ok = false;
            } else {
                provider = Some(key.as_str());
            }
        } else {
            let candidates: Vec<&str> = ENTRY_KEYS.iter().chain(providers.iter()).copied().collect();
            cx.key_error(
                &path(["resources", idx.as_str(), key.as_str()]),
                "spec::unknown-key",
                "Unknown key",
                format!("`{key}` is not a valid key in a resource entry."),
                did_you_mean(key, candidates),
            );
            ok = false;
        }
    }
    let Some(provider) = provider.map(str::to_string) else {
        if ok {
            cx.error(
                &here,
                "spec::missing-key",
                "Missing required key",
                "This resource does not say which provider owns it.",
                Some(format!("add one of: {}", providers.join(", "))),
            );
        }
        return None;
    };
    let body_path = path(["resources", idx.as_str(), provider.as_str()]);
    let Some(Value::Object(body)) = entry.shift_remove(&provider) else {
        cx.error(
            &body_path,
            "spec::wrong-type",
            "Wrong type",
            format!("`{provider}` must be a map of the resource's attributes."),
            None,
        );
        return None;
    };
    let name = match entry.get("name") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            cx.error(
                &path(["resources", idx.as_str(), "name"]),
                "spec::wrong-type",
                "Wrong type",
                "`name` must be a string.",
                None,
            );
            return None;
        }
    };
    let depends_on = match entry.get("depends_on") {
        None => Vec::new(),
        Some(v) => {
            let dp = path(["resources", idx.as_str(), "depends_on"]);
            let list: Vec<String> = cx.decode(&dp, v)?;
            let mut out = Vec::new();
            for (j, a) in list.iter().enumerate() {
                match Address::parse(a) {
                    Ok(addr) => out.push(addr),
                    Err(e) => cx.error(
                        &path(["resources", idx.as_str(), "depends_on", &j.to_string()]),
                        "spec::bad-reference",
                        "Invalid reference",
                        capitalize_first(&format!("{e}.")),
                        Some("name another resource by its address, like `resources.<name>`".into()),
                    ),
                }
            }
            out
        }
    };

    let (kind, attrs, derived) = if provider == "kubernetes" {
        let api_version = body.get("apiVersion").and_then(Value::as_str);
        let kind = body.get("kind").and_then(Value::as_str);
        let obj_name = body.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str);
        let (Some(api_version), Some(kind), Some(obj_name)) = (api_version, kind, obj_name) else {
            let missing = [
                ("apiVersion", api_version.is_none()),
                ("kind", kind.is_none()),
                ("metadata.name", obj_name.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(k, _)| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
            let help = match (api_version, kind, obj_name) {
                (_, None, _) => "add the object's `kind`, like `kind: ConfigMap`",
                (None, _, _) => "add its `apiVersion`, like `apiVersion: v1`",
                _ => "add `metadata: { name: ... }`",
            };
            cx.key_error(
                &body_path,
                "spec::missing-key",
                "Missing required key",
                format!("A Kubernetes manifest needs apiVersion, kind and metadata.name; this one lacks {missing}."),
                Some(help.into()),
            );
            return None;
        };
        let ns = body.get("metadata").and_then(|m| m.get("namespace")).and_then(Value::as_str);
        let mut segs = vec!["resources".to_string(), kind.to_ascii_lowercase()];
        if let Some(ns) = ns {
            segs.push(ns.to_string());
        }
        segs.push(obj_name.to_string());
        let kind = format!("{api_version}/{kind}");
        (kind, Value::Object(body), Some(segs.join(".")))
    } else {
        let Some(kind) = body.get("kind").and_then(Value::as_str) else {
            cx.key_error(
                &body_path,
                "spec::missing-key",
                "Missing required key",
                format!("A `{provider}` resource needs `kind`: the type of resource the provider creates."),
                Some(format!("add `kind: <kind>` to `{provider}`")),
            );
            return None;
        };
        let kind = kind.to_string();
        let mut attrs = body;
        attrs.shift_remove("kind");
        (kind, Value::Object(attrs), None)
    };
    let address = match (name, derived) {
        (Some(n), _) => Address::from_segments(["resources", n.as_str()]).map_err(|e| e.to_string()),
        (None, Some(d)) => Address::parse(&d).map_err(|e| e.to_string()),
        (None, None) => {
            Err(format!("A `{provider}` resource needs a `name`, which becomes its address `resources.<name>`."))
        }
    };
    let address = match address {
        Ok(a) => a,
        Err(msg) => {
            let at = if entry.contains_key("name") { path(["resources", idx.as_str(), "name"]) } else { here };
            let msg = if msg.ends_with('.') { msg } else { format!("{msg}.") };
            let help =
                entry.contains_key("name").then(|| "use letters, digits, `-` and `_` in resource names".to_string());
            cx.error(&at, "spec::invalid-name", "Invalid name", capitalize_first(&msg), help);
            return None;
        }
    };
    Some(Resource { address, provider, kind, attrs, depends_on })
}

fn capitalize_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
