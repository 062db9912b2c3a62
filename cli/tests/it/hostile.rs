//! Hostile specs through the real binary, in a child process: whatever the file, `strata
//! validate` ends with a normal exit 1 and a bounded report. A stack overflow or an allocation
//! failure kills a process with a signal, which an in-process test cannot observe (the whole
//! test binary dies with it); a panic exits with 101. Both fail here, naming the input.
//!
//! Every fixture in `tests/fixtures/invalid/` runs, plus the cases that need the real providers'
//! settings parsers (the fixtures test in the engine uses test providers for those).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// Address space of the child, in KiB (`ulimit -v`): a loader that allocates without bound
/// (an alias bomb) dies at this limit instead of taking the machine's memory.
const MEMORY_LIMIT_KIB: u64 = 4 << 20;

/// Longest report accepted: a diagnostic shows a clipped excerpt of its line, never the line.
const MAX_REPORT_BYTES: usize = 16 << 10;

fn validate(spec: &Path) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" -f \"$1\" validate"))
        .arg(STRATA)
        .arg(spec)
        .current_dir(dir.path())
        .env("STRATA_ENABLE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .env_remove("STRATA_ENV")
        .output()
        .unwrap()
}

/// Why `out` is not a normal rejection, if it is not.
fn problem(out: &Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr.chars().rev().take(600).collect::<Vec<_>>().into_iter().rev().collect();
    match (out.status.code(), out.status.signal()) {
        (_, Some(sig)) => Some(format!("killed by signal {sig}; stderr ends with:\n{tail}")),
        (Some(1), _) if !stderr.contains("nothing was changed") && !stderr.contains("Error:") => {
            Some(format!("exit 1 without a report:\n{tail}"))
        }
        (Some(1), _) if out.stderr.len() + out.stdout.len() > MAX_REPORT_BYTES => {
            Some(format!("a report of {} bytes (more than {MAX_REPORT_BYTES})", out.stderr.len() + out.stdout.len()))
        }
        (Some(1), _) => None,
        (code, _) => Some(format!("exit code {code:?} (expected 1); stderr ends with:\n{tail}")),
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_fixture_is_a_normal_exit_1_never_a_signal_or_a_panic() {
    let files = fixtures();
    assert!(files.len() >= 60, "only {} fixtures", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| problem(&validate(f)).map(|p| format!("{}: {p}", f.file_name().unwrap().to_string_lossy())))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Settings only the real providers parse, and inputs too big for a fixture.
#[test]
fn hostile_provider_settings_and_huge_lines_are_rejected_with_a_report() {
    let head = "version: 1\nproject: apex\n";
    let cases = [
        (
            "kubernetes delete_timeout overflow",
            format!("{head}providers:\n  kubernetes: {{ delete_timeout: \"18446744073709551615s1s\" }}\n"),
            "delete_timeout",
        ),
        (
            "kubernetes delete_timeout in hours",
            format!("{head}providers:\n  kubernetes: {{ delete_timeout: 9999999999999999h }}\n"),
            "delete_timeout",
        ),
        (
            "aws wait_timeout_secs 1e300",
            format!("{head}providers:\n  aws: {{ region: us-east-1, wait_timeout_secs: 1e300 }}\n"),
            "wait_timeout_secs",
        ),
        (
            "aws wait_poll_interval_secs 1e300",
            format!("{head}providers:\n  aws: {{ region: us-east-1, wait_poll_interval_secs: 1e300 }}\n"),
            "wait_poll_interval_secs",
        ),
        (
            "a 400 KB line",
            format!(
                "{head}services: {{ api: {{ namespace: apex, port: 8080, notes: \"{}\", prot: 1, more: \"{}\" }} }}\n",
                "x".repeat(200_000),
                "y".repeat(200_000)
            ),
            "spec::unknown-key",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, spec, expect) in cases {
        let path = dir.path().join("strata.yaml");
        std::fs::write(&path, &spec).unwrap();
        let out = validate(&path);
        if let Some(p) = problem(&out) {
            failures.push(format!("{name}: {p}"));
        } else if !String::from_utf8_lossy(&out.stderr).contains(expect) {
            failures.push(format!(
                "{name}: the report does not mention `{expect}`:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
