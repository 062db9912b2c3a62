//! Test helpers shared by the `scaling` and `flags` tests: the example spec and the Python
//! validators under tests/validate/.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace root (the directory holding `cli/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

/// examples/scaling-flags/strata.yaml.
pub fn example() -> String {
    let p = workspace_root().join("examples/scaling-flags/strata.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The directory of official API schemas: `$STRATA_API_SPECS`, default
/// `<workspace>/../shared/api-specs`.
pub fn api_specs() -> PathBuf {
    std::env::var_os("STRATA_API_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/api-specs"))
}

/// The Python that runs the validators: `$STRATA_PYTHON`, else `<workspace>/.venv/bin/python`.
/// Missing Python fails the test with setup instructions; it never passes silently.
pub fn python() -> PathBuf {
    let p = std::env::var_os("STRATA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python for the schema validators at {}.\nSet it up from the workspace root with:\n  \
         python3 -m venv .venv && .venv/bin/pip install -r tests/validate/requirements.txt\n\
         or point STRATA_PYTHON at a Python that has those packages.",
        p.display()
    );
    p
}

/// Runs `script` on `docs` (written as one JSON list to a temporary file) and fails the test
/// with the validator's output unless it exits 0.
pub fn python_validate(script: &Path, docs: &[Value]) {
    assert!(
        script.exists(),
        "the validator {} does not exist; it is part of the repository (tests/validate/)",
        script.display()
    );
    let specs = api_specs();
    assert!(specs.is_dir(), "API specs not found at {}; set STRATA_API_SPECS", specs.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("docs.json");
    std::fs::write(&file, serde_json::to_string_pretty(docs).expect("json")).expect("write");
    let out = Command::new(python())
        .arg(script)
        .arg(&file)
        .env("STRATA_API_SPECS", &specs)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} rejected the generated documents ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
}
