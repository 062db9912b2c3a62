//! Every `examples/*/strata.yaml` loads without diagnostics, in its base form and in every
//! environment it declares, with the providers strata ships (`DefaultFactory`). Loading calls
//! no provider, so no cluster or cloud account is needed.

use std::path::Path;

use strata::config::load_with_env;
use strata::providers::DefaultFactory;

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
        let name = format!("examples/{}/strata.yaml", dir.file_name().unwrap().to_string_lossy());
        let text = std::fs::read_to_string(&file).unwrap();
        let (root_node, _) = strata::spec::yaml::parse(&text).expect("example is valid YAML");
        let envs: Vec<String> = root_node
            .get_path(&["environments".to_string()])
            .map(|n| n.to_value().as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default())
            .unwrap_or_default();
        for env in std::iter::once(None).chain(envs.iter().map(|e| Some(e.as_str()))) {
            match load_with_env(&name, text.as_str(), env, &DefaultFactory::default(), &getenv) {
                Ok(_) => loaded += 1,
                Err(d) => failures.push(format!("{name} (env {env:?}):\n{}", d.render(false))),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(loaded > 0, "no example found under examples/");
}
