//! The extension points, exercised by plugins that exist only in this test: a section, a mesh
//! target, a CDN target, a provider and a state backend. Each is one type here plus one line in
//! the registry this test builds; nothing in the engine names them. Loading validates their
//! settings with located diagnostics, the schema includes them, planning and the state backend
//! work through them.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use strata_engine::config::load_with_env;
use strata_engine::lower::cdn::{Cdn, CdnTarget};
use strata_engine::lower::mesh::{Mesh, MeshConfig, MeshTarget};
use strata_engine::lower::{Section, Sections};
use strata_engine::plan::{Action, PlanOptions, plan};
use strata_engine::registry::Registry;
use strata_engine::spec::{SpecContext, path};
use strata_engine::state::{
    BackendContext, LocalBackend, State, StateBackend, StateBackendPlugin, StateError, decode_settings,
};
use strata_sdk::{
    Address, Provider, ProviderContext, ProviderPlugin, Resource, SettingsError, decode_settings as decode_provider,
};
use strata_testkit::TestProvider;

/// A section: `greetings: { <name>: { to: <who> } }`, one `test` resource per greeting. It reads
/// the mesh section's decoded config to say which mesh greets.
struct Greetings;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Greeting {
    to: String,
}

impl Section for Greetings {
    type Config = BTreeMap<String, Greeting>;

    fn name(&self) -> &'static str {
        "greetings"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        <BTreeMap<String, Greeting>>::json_schema(generator)
    }

    fn decode(&self, cx: &mut SpecContext<'_>, value: &Value) -> Option<Self::Config> {
        cx.decode(&path(["greetings"]), value)
    }

    fn lower(&self, _cx: &mut SpecContext<'_>, config: &Self::Config, sections: &Sections) -> Vec<Resource> {
        let mesh = sections.get::<MeshConfig>().map_or("none", |m| m.provider.as_str());
        config
            .iter()
            .map(|(name, g)| Resource {
                address: Address::from_segments(["greetings", name.as_str()]).unwrap(),
                provider: "test".into(),
                kind: "greeting".into(),
                attrs: json!({"to": g.to, "mesh": mesh}),
                depends_on: Vec::new(),
            })
            .collect()
    }
}

/// A mesh target: `mesh.provider: paper`, one `test` resource per service.
struct PaperMesh;

impl MeshTarget for PaperMesh {
    fn name(&self) -> &'static str {
        "paper"
    }

    fn check_support(&self, cx: &mut SpecContext<'_>, mesh: &MeshConfig) {
        if mesh.gateway.is_some() {
            cx.key_error(
                &path(["mesh", "gateway"]),
                "mesh::unsupported-feature",
                "Not supported",
                "Paper has no gateway.",
                None,
            );
        }
    }

    fn lower(&self, cx: &SpecContext<'_>, _mesh: &MeshConfig) -> Vec<Resource> {
        cx.services
            .keys()
            .map(|s| Resource {
                address: Address::from_segments(["mesh", s.as_str(), "paper"]).unwrap(),
                provider: "test".into(),
                kind: "paper_route".into(),
                attrs: json!({"service": s}),
                depends_on: Vec::new(),
            })
            .collect()
    }
}

/// A CDN target: `provider: pigeon`, settings `{ provider, origin }`.
struct PigeonCdn;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PigeonEntry {
    provider: String,
    origin: String,
}

impl CdnTarget for PigeonCdn {
    fn name(&self) -> &'static str {
        "pigeon"
    }

    fn entry_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        PigeonEntry::json_schema(generator)
    }

    fn lower_entry(&self, cx: &mut SpecContext<'_>, name: &str, settings: &Map<String, Value>) -> Vec<Resource> {
        let Some(entry) = cx.decode::<PigeonEntry>(&path(["cdn", name]), &Value::Object(settings.clone())) else {
            return Vec::new();
        };
        vec![Resource {
            address: Address::from_segments(["cdn", name]).unwrap(),
            provider: "test".into(),
            kind: "loft".into(),
            attrs: json!({"origin": entry.origin}),
            depends_on: Vec::new(),
        }]
    }
}

/// A provider plugin with its own settings type: the in-memory test provider behind
/// `providers.test: { greeting_prefix: ... }`.
struct TestPlugin {
    provider: Arc<TestProvider>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TestSettings {
    greeting_prefix: Option<String>,
}

impl ProviderPlugin for TestPlugin {
    fn name(&self) -> &'static str {
        "test"
    }

    fn settings_schema(&self) -> Value {
        schemars::schema_for!(TestSettings).to_value()
    }

    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        let _: TestSettings = decode_provider(settings)?;
        assert_eq!(cx.project, "apex");
        Ok(self.provider.clone())
    }
}

/// A state backend with its own settings type: `state: { backend: folder, dir: ... }`.
struct FolderBackend;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FolderSettings {
    dir: String,
}

impl StateBackendPlugin for FolderBackend {
    fn name(&self) -> &'static str {
        "folder"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        FolderSettings::json_schema(generator)
    }

    fn check(&self, cx: &mut SpecContext<'_>, settings: &Value) {
        let _: Option<FolderSettings> = cx.decode(&path(["state"]), settings);
    }

    fn open(&self, settings: &Value, cx: &BackendContext) -> Result<Arc<dyn StateBackend>, StateError> {
        let s: FolderSettings = decode_settings(settings)?;
        Ok(Arc::new(LocalBackend::new(cx.spec_dir.join(s.dir).join(format!("{}.json", cx.env)))))
    }
}

fn registry(provider: Arc<TestProvider>) -> Registry {
    Registry::empty()
        .section(Mesh::new().target(PaperMesh))
        .section(Cdn::new().target(PigeonCdn))
        .section(Greetings)
        .provider(TestPlugin { provider })
        .backend(FolderBackend)
}

const SPEC: &str = "version: 1
project: apex
state: { backend: folder, dir: states }
providers:
  test: { greeting_prefix: hi }
services:
  api: { namespace: apex, port: 8080 }
mesh: { provider: paper }
cdn:
  assets: { provider: pigeon, origin: assets.example.com }
greetings:
  hello: { to: world }
";

#[tokio::test]
async fn plugins_added_by_a_test_load_plan_and_keep_state() {
    let provider = Arc::new(TestProvider::new());
    let registry = registry(provider.clone());
    let config = load_with_env("strata.yaml", SPEC, None, &registry, &|_| None)
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let addresses: Vec<&str> = config.resources.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addresses, ["mesh.api.paper", "cdn.assets", "greetings.hello"]);
    let greeting = config.resource(&Address::parse("greetings.hello").unwrap()).unwrap();
    assert_eq!(greeting.attrs, json!({"to": "world", "mesh": "paper"}), "the section read the mesh config");

    let plan = plan(&config, &State::default(), &PlanOptions::default()).await.unwrap();
    assert!(plan.changes.iter().all(|c| c.action == Action::Create), "{:?}", plan.changes);
    assert_eq!(plan.changes.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let backend = config.open_backend(dir.path()).unwrap();
    assert_eq!(backend.describe(), dir.path().join("states/default.json").display().to_string());
    assert!(backend.read().await.unwrap().is_none());
}

#[test]
fn plugin_settings_are_checked_with_located_diagnostics() {
    let registry = registry(Arc::new(TestProvider::new()));
    let bad = SPEC
        .replace("dir: states", "dri: states")
        .replace("greeting_prefix: hi", "greeting_prefx: hi")
        .replace("origin: assets", "orign: assets")
        .replace("to: world", "too: world")
        .replace("provider: paper", "provider: papr");
    let d = load_with_env("strata.yaml", bad.as_str(), None, &registry, &|_| None).err().expect("problems");
    let found: Vec<(&str, String, Option<&str>)> = d
        .items
        .iter()
        .map(|i| {
            let s = i.span.expect("located");
            (i.code, bad[s.offset..s.offset + s.len].to_string(), i.help.as_deref())
        })
        .collect();
    let has = |code: &str, text: &str| found.iter().any(|(c, t, _)| *c == code && t == text);
    assert!(has("spec::unknown-key", "dri"), "{found:?}");
    assert!(has("spec::unknown-key", "orign"), "{found:?}");
    assert!(has("spec::unknown-key", "too"), "{found:?}");
    assert!(has("spec::invalid-value", "papr"), "{found:?}");
    assert!(
        found.contains(&("spec::unknown-key", "greeting_prefx".into(), Some("did you mean `greeting_prefix`?"))),
        "{found:?}"
    );
}

#[test]
fn the_schema_includes_every_plugin() {
    let schema = strata_engine::schema::generate(&registry(Arc::new(TestProvider::new())));
    let props = &schema["properties"];
    assert!(props.get("greetings").is_some());
    assert_eq!(props["mesh"]["properties"]["provider"]["enum"], json!(["paper"]));
    assert!(props["providers"]["properties"]["test"]["properties"].get("greeting_prefix").is_some());
    assert!(
        props["state"]["oneOf"].as_array().unwrap().iter().any(|v| v["properties"]["backend"]["const"] == "folder")
    );
    // The target's entry, beside the multi-CDN entry (`strategy:` over other entries).
    let entries = props["cdn"]["additionalProperties"]["oneOf"].as_array().expect("target and multi-CDN entries");
    let resolve = |e: &serde_json::Value| match e["$ref"].as_str() {
        Some(r) => schema["$defs"][r.trim_start_matches("#/$defs/")].clone(),
        None => e.clone(),
    };
    assert!(
        entries.iter().any(|e| resolve(e)["properties"].get("origin").is_some()),
        "the CDN target's entry: {}",
        props["cdn"]
    );
    assert!(entries.iter().any(|e| resolve(e)["properties"].get("strategy").is_some()), "{}", props["cdn"]);
}
