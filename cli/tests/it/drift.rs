//! `strata drift` at scale, through the built binary and the file-backed test provider:
//! `--shard I/N` (N shards check every resource exactly once), `drift.ignore` (accepted drift
//! with its reason), `--format markdown`, and `--notify webhook=URL` (a Slack-compatible
//! payload posted to a local HTTP listener on exit 2, without secrets).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::mpsc;

use serde_json::Value;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const SECRET: &str = "s3cr3t-t0ken-value";

fn spec(n: usize) -> String {
    let mut s = String::from(
        "version: 1\nproject: apex\nproviders:\n  test: { store: store.json }\ndrift:\n  ignore:\n    - { address: resources.r1, paths: [size], reason: scaled by hand during the sale }\nresources:\n",
    );
    for i in 0..n {
        s.push_str(&format!("  - name: r{i}\n    test: {{ kind: widget, size: {i}, note: \"${{secret.NOTE}}\" }}\n"));
    }
    s
}

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(STRATA)
        .current_dir(dir)
        .args(args)
        .env("STRATA_ENABLE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1")
        .env("NOTE", SECRET)
        .env_remove("STRATA_ENV")
        .output()
        .unwrap()
}

fn tamper(dir: &std::path::Path, edits: &[(&str, &str, Value)]) {
    let path = dir.join("store.json");
    let mut store: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (address, key, value) in edits {
        store[*address][0][*key] = value.clone();
    }
    std::fs::write(&path, serde_json::to_vec(&store).unwrap()).unwrap();
}

/// Accepts one HTTP request and answers 200; sends `(request line, body)` back.
fn listener() -> (String, mpsc::Receiver<(String, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/T000/B000/XXXX", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").unwrap();
        tx.send((line.trim().to_string(), String::from_utf8(body).unwrap())).unwrap();
    });
    (url, rx)
}

#[test]
fn sharded_classified_drift_with_markdown_and_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("strata.yaml"), spec(40)).unwrap();
    let o = run(d, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // No drift: exit 0 in every shard, and no notification is sent (no listener needed).
    let o = run(d, &["drift", "--shard", "0/2", "--notify", "webhook=http://127.0.0.1:9/never"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // Four shards check each of the 40 resources exactly once.
    let mut checked = 0;
    for i in 0..4 {
        let o = run(d, &["drift", "--json", "--shard", &format!("{i}/4")]);
        assert_eq!(o.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["shard"], format!("{i}/4"));
        checked += v["checked"].as_u64().unwrap();
    }
    assert_eq!(checked, 40);
    let o = run(d, &["drift", "--shard", "4/4"]);
    assert_eq!(o.status.code(), Some(1), "a usage error is 1, never 2: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the index is 0 to 3"));

    // Drift: r0 changed by someone else, r1 accepted by the spec, r2 deleted remotely.
    tamper(d, &[("resources.r0", "size", Value::from(99)), ("resources.r1", "size", Value::from(7))]);
    let path = d.join("store.json");
    let mut store: BTreeMap<String, Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    store.remove("resources.r2");
    std::fs::write(&path, serde_json::to_vec(&store).unwrap()).unwrap();

    // Shards find each drifted resource exactly once.
    let mut found = Vec::new();
    for i in 0..4 {
        let o = run(d, &["drift", "--json", "--shard", &format!("{i}/4")]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let drifted = v["drifted"].as_array().unwrap();
        assert_eq!(o.status.code(), Some(if drifted.is_empty() { 0 } else { 2 }));
        found.extend(drifted.iter().map(|r| r["address"].as_str().unwrap().to_string()));
    }
    found.sort();
    assert_eq!(found, ["resources.r0", "resources.r2"]);

    let o = run(d, &["drift", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(2));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("| `resources.r0` | `widget` | changed by someone else | `size` (changed) |"), "{md}");
    assert!(md.contains("| `resources.r2` | `widget` | deleted remotely |"), "{md}");
    assert!(md.contains("| `resources.r1` | `size` | scaled by hand during the sale |"), "{md}");
    assert!(!md.contains(SECRET));

    let (url, rx) = listener();
    let o = run(d, &["drift", "--notify", &format!("webhook={url}")]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let (line, body) = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the webhook was called");
    assert_eq!(line, "POST /hooks/T000/B000/XXXX HTTP/1.1");
    let payload: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["text"], "strata drift: 2 of 40 resources drifted in apex/default");
    let blocks = payload["blocks"].as_array().unwrap();
    assert!(blocks.iter().all(|b| b["type"].is_string()));
    assert!(body.contains("resources.r0") && body.contains("deleted remotely"), "{body}");
    assert!(!body.contains(SECRET), "secret in the payload: {body}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Warning"), "{}", String::from_utf8_lossy(&o.stderr));

    // A webhook that cannot be reached: a warning without the URL, and still exit 2.
    let o = run(d, &["drift", "--notify", "webhook=http://127.0.0.1:9/hooks/T000/secret-path"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("notification was not delivered") && !err.contains("secret-path"), "{err}");
}
