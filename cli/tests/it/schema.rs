//! The JSON Schema of strata.yaml for this build's plugins: `schemas/strata.schema.json` is it,
//! committed, and it accepts and refuses what the loader does.

use serde_json::json;
use strata::registry::registry;

fn generate() -> serde_json::Value {
    strata_engine::schema::generate(&registry(false))
}

#[test]
fn the_schema_accepts_and_refuses_what_the_loader_does() {
    let schema = generate();
    let variants = schema["properties"]["state"]["oneOf"].as_array().expect("one variant per backend");
    let local = variants.iter().find(|v| v["properties"]["backend"]["const"] == "local").expect("local");
    assert!(
        local.get("required").is_none_or(|r| !r.as_array().unwrap().contains(&json!("backend"))),
        "`state: {{ path: x }}` loads as the local backend: {local}"
    );
    let s3 = variants.iter().find(|v| v["properties"]["backend"]["const"] == "s3").expect("s3");
    assert_eq!(s3["required"].as_array().map(|r| r.contains(&json!("backend"))), Some(true), "{s3}");
    assert_eq!(s3["additionalProperties"], json!(false), "{s3}");
    // Resource entries refuse unknown keys, as `resources.rs` does, and name the providers.
    let entry = &schema["$defs"]["RawResource"];
    assert_eq!(entry["additionalProperties"], json!(false), "{entry}");
    assert!(entry["properties"].get("kubernetes").is_some() && entry["properties"].get("aws").is_some(), "{entry}");
    // Provider settings come from the providers' own types, with the engine's rate_limit.
    let k8s = &schema["properties"]["providers"]["properties"]["kubernetes"];
    assert!(
        k8s["properties"].get("force_conflicts").is_some() && k8s["properties"].get("rate_limit").is_some(),
        "{k8s}"
    );
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/strata.schema.json");
    let generated = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
    if std::env::var_os("STRATA_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/strata.schema.json is out of date: run `STRATA_UPDATE_SCHEMA=1 scripts/test.sh -p strata-cli --test it schema::` and commit it"
    );
}
