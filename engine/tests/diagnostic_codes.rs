//! Keeps docs/diagnostics.md and the source in step: each diagnostic code has one summary, every
//! code the source uses is documented (spec codes with that same summary), and every documented
//! code is used.
//!
//! The source is scanned for code literals (`"mesh::invalid-retries"`). A code literal followed
//! by a string literal argument (`cx.error(p, "mesh::invalid-retries", "Invalid retries", ...)`,
//! `SpecDiagnostic::new(code, summary, detail)`) is a spec diagnostic with that summary; any
//! other code literal (the `code()` of a runtime error's `Diagnostic` impl) is a runtime code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Default)]
struct Found {
    /// Spec code → summaries (and where each was seen).
    summaries: BTreeMap<String, BTreeMap<String, String>>,
    /// Codes without a summary next to them (runtime errors).
    runtime: BTreeMap<String, String>,
}

fn is_code(s: &str) -> bool {
    let segs: Vec<&str> = s.split("::").collect();
    segs.len() >= 2
        && segs[0].chars().all(|c| c.is_ascii_lowercase())
        && segs
            .iter()
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
}

/// Reads a string literal starting at `b[i] == '"'`; returns its text and the index after it.
fn literal(b: &[u8], mut i: usize) -> (String, usize) {
    let start = i + 1;
    i += 1;
    while i < b.len() && b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    (String::from_utf8_lossy(&b[start..i.min(b.len())]).into_owned(), i + 1)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn scan_file(path: &Path, text: &str, found: &mut Found) {
    // Unit tests assert on codes without constructing diagnostics.
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') || (b.get(i + 1) == Some(&b'\\') && b.get(i + 3) == Some(&b'\'')) => {
                // A char literal such as '"' or '\\'.
                i += if b[i + 1] == b'\\' { 4 } else { 3 };
            }
            b'r' if b.get(i + 1) == Some(&b'#') && b.get(i + 2) == Some(&b'"') => {
                i += 3;
                while i + 1 < b.len() && !(b[i] == b'"' && b[i + 1] == b'#') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                let (s, next) = literal(b, i);
                let line = text[..i].matches('\n').count() + 1;
                let at = format!("{}:{line}", path.display());
                i = next;
                if !is_code(&s) {
                    continue;
                }
                let j = skip_ws(b, i);
                if b.get(j) == Some(&b',') {
                    let k = skip_ws(b, j + 1);
                    if b.get(k) == Some(&b'"') {
                        let (summary, after) = literal(b, k);
                        found.summaries.entry(s).or_default().entry(summary).or_insert(at);
                        i = after;
                        continue;
                    }
                }
                found.runtime.entry(s).or_insert(at);
            }
            _ => i += 1,
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(p);
        }
    }
}

fn scan_source(root: &Path) -> Found {
    let mut dirs = vec![root.join("engine/src"), root.join("cli/src")];
    for e in std::fs::read_dir(root.join("backends")).into_iter().flatten().flatten() {
        dirs.push(e.path().join("src"));
    }
    let mut files = Vec::new();
    for d in &dirs {
        walk(d, &mut files);
    }
    let mut found = Found::default();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        scan_file(f.strip_prefix(root).unwrap_or(&f), &text, &mut found);
    }
    found
}

/// Code → summary (`None` in tables without a summary column) from the docs' tables.
fn scan_docs(text: &str) -> BTreeMap<String, Option<String>> {
    let mut docs = BTreeMap::new();
    let mut has_summary = false;
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if line.starts_with("| code |") {
            has_summary = cells.get(1) == Some(&"summary");
            continue;
        }
        let Some(code) = cells.first().and_then(|c| c.strip_prefix('`')).and_then(|c| c.strip_suffix('`')) else {
            continue;
        };
        if is_code(code) {
            docs.insert(code.to_string(), has_summary.then(|| cells[1].to_string()));
        }
    }
    docs
}

/// Every disagreement between the source and the docs.
fn problems(found: &Found, docs: &BTreeMap<String, Option<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (code, summaries) in &found.summaries {
        if summaries.len() > 1 {
            problems.push(format!("`{code}` has {} summaries: {summaries:?}", summaries.len()));
        }
        for (summary, at) in summaries {
            match docs.get(code) {
                None => problems.push(format!("`{code}` ({at}) is not in docs/diagnostics.md")),
                Some(None) => problems.push(format!("`{code}` is documented without its summary `{summary}`")),
                Some(Some(d)) if d != summary => {
                    problems.push(format!("`{code}`: the source says `{summary}` ({at}), the docs `{d}`"))
                }
                Some(Some(_)) => {}
            }
        }
    }
    for (code, at) in &found.runtime {
        if !docs.contains_key(code) {
            problems.push(format!("`{code}` ({at}) is not in docs/diagnostics.md"));
        }
        if !found.summaries.contains_key(code) {
            problems.push(format!("`{code}` ({at}) has no summary: add it to RUNTIME_SUMMARIES in engine/src/diag.rs"));
        }
    }
    let used: BTreeSet<&String> = found.summaries.keys().chain(found.runtime.keys()).collect();
    for code in docs.keys() {
        if !used.contains(code) {
            problems.push(format!("`{code}` is in docs/diagnostics.md but no source uses it"));
        }
    }
    problems
}

#[test]
fn each_code_has_one_summary_and_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let found = scan_source(root);
    let docs = scan_docs(&std::fs::read_to_string(root.join("docs/diagnostics.md")).unwrap());
    assert!(found.summaries.len() > 100, "the scan found only {} spec codes", found.summaries.len());
    assert!(found.runtime.len() > 20, "the scan found only {} runtime codes", found.runtime.len());
    let problems = problems(&found, &docs);
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_check_catches_a_second_summary_and_an_undocumented_code() {
    let mut found = Found::default();
    let src = r#"
        cx.error(p, "mesh::invalid-retries", "Invalid retries", "`attempts: 0` allows no retry.", None);
        cx.error(p, "mesh::invalid-retries", "No retry conditions", "`on` is empty.", None);
        // "mesh::in-a-comment", "Ignored"
        let code = match self { E::A => "state::locked", E::B => "state::new-code" };
    "#;
    scan_file(Path::new("x.rs"), src, &mut found);
    let docs = scan_docs(
        "| code | summary | reported when |\n|---|---|---|\n| `mesh::invalid-retries` | Invalid retries | x |\n\
         | `mesh::unused` | Unused | x |\n\n| code | reported when |\n|---|---|\n| `state::locked` | x |\n",
    );
    let p = problems(&found, &docs);
    assert_eq!(p.len(), 6, "{p:#?}");
    assert!(p[0].contains("has 2 summaries"), "{p:#?}");
    assert!(p[1].contains("the source says `No retry conditions`"), "{p:#?}");
    assert!(p[2].contains("`state::locked` (x.rs:5) has no summary"), "{p:#?}");
    assert!(p[3].contains("`state::new-code` (x.rs:5) is not in docs"), "{p:#?}");
    assert!(p[4].contains("`state::new-code` (x.rs:5) has no summary"), "{p:#?}");
    assert!(p[5].contains("`mesh::unused` is in docs"), "{p:#?}");
}
