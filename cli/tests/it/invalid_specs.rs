//! Golden diagnostics for broken specs: every file in `tests/fixtures/invalid/` must fail to
//! load, every diagnostic must point into the file, and the rendered report (what a user sees)
//! is snapshotted, one snapshot per fixture.
//!
//! Each fixture starts with `# expect: <code> [<code> ...]`: the diagnostic codes the loader
//! must report for it (others may appear too). Review changed snapshots with `cargo insta review`
//! or `INSTA_UPDATE=always scripts/test.sh -p strata-cli --test it invalid_specs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::registry::registry;
use strata_engine::config::load_with_env;
use strata_engine::diag::Diagnostics;
use strata_testkit::TestProvider;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/invalid")
}

/// Every fixture, sorted by file name.
fn fixtures() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/invalid exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn load(name: &str, text: &str) -> Result<strata_engine::config::Config, Diagnostics> {
    // The plugins of the `strata` binary, with test providers standing in for the cluster
    // (sections lower to Kubernetes objects) so only the spec's own problems are reported.
    let plugins = registry(false)
        .provider_instance("test", Arc::new(TestProvider::new()))
        .provider_instance("kubernetes", Arc::new(TestProvider::new()));
    load_with_env(name, text, None, &plugins, &|_| None)
}

fn expected_codes(text: &str) -> Vec<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("# expect:"))
        .map(|rest| rest.split_whitespace().collect())
        .unwrap_or_default()
}

#[test]
fn there_are_enough_fixtures() {
    assert!(fixtures().len() >= 40, "tests/fixtures/invalid has {} fixtures", fixtures().len());
}

#[test]
fn every_invalid_spec_is_rejected_with_located_diagnostics() {
    let mut problems = Vec::new();
    for (name, text) in fixtures() {
        let stem = name.trim_end_matches(".yaml").to_string();
        let expected = expected_codes(&text);
        if expected.is_empty() {
            problems.push(format!("{name}: no `# expect: <code>` line"));
        }
        let diags = match load(&name, &text) {
            Ok(_) => {
                problems.push(format!("{name}: loaded without diagnostics"));
                continue;
            }
            Err(d) => d,
        };
        if diags.is_empty() {
            problems.push(format!("{name}: Err with no diagnostics"));
        }
        let codes: Vec<&str> = diags.items.iter().map(|d| d.code).collect();
        for code in &expected {
            if !codes.contains(code) {
                problems.push(format!("{name}: expected `{code}`, got {codes:?}"));
            }
        }
        for d in &diags.items {
            match d.span {
                None => problems.push(format!("{name}: `{}` ({}) has no location", d.code, d.detail)),
                Some(s) if s.offset + s.len > text.len() => {
                    problems.push(format!("{name}: `{}` has a span past the end of the file", d.code))
                }
                Some(_) => {}
            }
            if d.source.as_ref().is_none_or(|s| s.name != name) {
                problems.push(format!("{name}: `{}` does not name the file", d.code));
            }
        }
        let rendered = diags.render(false);
        insta::assert_snapshot!(stem, rendered);
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
