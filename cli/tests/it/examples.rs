//! Every `examples/*/strata.yaml` loads without diagnostics, in its base form and in every
//! environment it declares, with the providers strata ships (`registry()`). Loading calls
//! no provider, so no cluster or cloud account is needed.

use std::path::Path;

use strata::registry::registry;
use strata_engine::config::load_with_env;

/// Environment variables the examples read, with stand-in values.
fn getenv(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/strata".into()),
        other if other.starts_with("STRATA_EXAMPLE_") => Some("example".into()),
        _ => None,
    }
}

#[test]
fn every_example_loads_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).expect("examples/ exists").map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let mut loaded = 0;
    let mut failures = Vec::new();
    for dir in dirs {
        let file = dir.join("strata.yaml");
        if !file.exists() {
            continue;
        }
        // The full path: files an example names (a Worker module) are relative to it.
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let (root_node, _) = strata_engine::spec::yaml::parse(&text).expect("example is valid YAML");
        let envs: Vec<String> = root_node
            .get_path(&["environments".to_string()])
            .map(|n| n.to_value().as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default())
            .unwrap_or_default();
        for env in std::iter::once(None).chain(envs.iter().map(|e| Some(e.as_str()))) {
            match load_with_env(&name, text.as_str(), env, &registry(false), &getenv) {
                Ok(_) => loaded += 1,
                Err(d) => failures.push(format!("{name} (env {env:?}):\n{}", d.render(false))),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(loaded > 0, "no example found under examples/");
}

// The CloudFront example through the real providers: the cdn lowering's documents are accepted
// by the AWS provider's validation, and references to the distribution's outputs resolve.

fn cdn_example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cdn-cloudfront/strata.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn cdn_getenv(name: &str) -> Option<String> {
    name.starts_with("STRATA_EXAMPLE_").then(|| "example-secret-value".to_string())
}

/// Loads `text` as the CLI does, with the built-in providers.
fn load_config(text: String) -> Result<strata_engine::config::Config, strata_engine::diag::Diagnostics> {
    load_with_env("strata.yaml", text, None, &registry(false), &cdn_getenv)
}

/// The whole configuration: the AWS provider accepts every generated document, and
/// `${cdn.assets.domain_name}` (and `.id`, `.arn`) in a raw ConfigMap resolve to the
/// distribution's outputs, ordering the ConfigMap after it.
#[test]
fn references_to_cdn_outputs_resolve_and_order_the_graph() {
    let config = load_config(cdn_example()).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let cm = config.index[&strata_sdk::Address::parse("resources.edge-config").unwrap()];
    let dist = config.index[&strata_sdk::Address::parse("cdn.assets").unwrap()];
    let mut attrs: Vec<(String, bool)> = config.refs[cm]
        .iter()
        .map(|r| {
            assert_eq!(r.target, dist, "{r:?}");
            (r.attr.join("."), r.is_output)
        })
        .collect();
    attrs.sort();
    assert_eq!(attrs, [("arn".into(), true), ("domain_name".into(), true), ("id".into(), true)]);
    assert!(config.deps[cm].contains(&dist));
    let order = config.topo_order();
    let pos = |i| order.iter().position(|&x| x == i).unwrap();
    assert!(pos(dist) < pos(cm));
    // Records and the distribution's policies are ordered around it too.
    let record = config.index[&strata_sdk::Address::parse("cdn.assets.dns.static.a").unwrap()];
    assert!(config.deps[record].contains(&dist));
    let policy = config.index[&strata_sdk::Address::parse("cdn.assets.cache.img").unwrap()];
    assert!(config.deps[dist].contains(&policy));

    // A misspelt output gets a did-you-mean against the distribution's outputs.
    let bad = cdn_example().replace("${cdn.assets.arn}", "${cdn.assets.domain}");
    let d = load_config(bad).err().expect("unknown attribute");
    assert_eq!(d.len(), 1, "{}", d.render(false));
    assert_eq!(d.items[0].help.as_deref(), Some("did you mean `cdn.assets.domain_name`?"));
}

/// `plan --refresh=false` on empty state: the ConfigMap's data is known only after the apply.
#[tokio::test]
async fn plan_shows_outputs_as_known_after_apply() {
    let config = load_config(cdn_example()).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let plan = strata_engine::plan::plan(
        &config,
        &strata_engine::state::State::default(),
        &strata_engine::plan::PlanOptions { refresh: false, ..Default::default() },
    )
    .await
    .unwrap();
    let cm = plan.change(&strata_sdk::Address::parse("resources.edge-config").unwrap()).unwrap();
    assert_eq!(cm.after.as_ref().unwrap()["data"]["cdn_domain"], strata_sdk::value::UNKNOWN);
    let record = plan.change(&strata_sdk::Address::parse("cdn.assets.dns.static.a").unwrap()).unwrap();
    assert_eq!(record.after.as_ref().unwrap()["alias"]["dns_name"], strata_sdk::value::UNKNOWN);
    // The origin's shared secret never shows.
    let dist = plan.change(&strata_sdk::Address::parse("cdn.assets").unwrap()).unwrap();
    let text = serde_json::to_string(dist).unwrap();
    assert!(!text.contains("example-secret-value"), "{text}");
    assert_eq!(plan.summary.create, 8, "{:#?}", plan.changes.iter().map(|c| c.address.as_str()).collect::<Vec<_>>());
}
