//! The apply walk against a slow API: 1,000 test resources in a DAG of depth 5 (5 layers of
//! 200, each resource depending on one in the previous layer through a `${...}` reference),
//! every provider call taking 20 ms, at several `--parallelism` values.
//!
//! ```text
//! cargo bench -p strata-engine --bench apply_walk
//! STRATA_BENCH_PARALLELISM=10,50 cargo bench -p strata-engine --bench apply_walk
//! ```
//!
//! The lower bound on the wall time is max(critical path, total work / parallelism) =
//! max(5 · 20 ms, N · 20 ms / parallelism); the target is wall ≤ 1.25 × bound. State is written
//! to a local file through the real checkpoint writer (default interval).

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_engine::apply::{ApplyOptions, Silent, apply};
use strata_engine::config::{load_with_env, test_factory};
use strata_engine::plan::{PlanOptions, plan};
use strata_engine::state::{LocalBackend, State};
use strata_testkit::TestProvider;
use tokio::sync::watch;

const LAYERS: usize = 5;
const WIDTH: usize = 200;
const LATENCY: Duration = Duration::from_millis(20);

fn spec() -> String {
    let mut s = String::from("version: 1\nproject: bench\nresources:\n");
    for layer in 0..LAYERS {
        for j in 0..WIDTH {
            s.push_str(&format!("  - name: l{layer}-{j}\n    test: {{ kind: widget, size: {j}"));
            if layer > 0 {
                // One dependency in the previous layer, spread so layers interleave.
                let dep = (j * 37 + 11) % WIDTH;
                s.push_str(&format!(", upstream: \"${{resources.l{}-{dep}.id}}\"", layer - 1));
            }
            s.push_str(" }\n");
        }
    }
    s
}

struct Row {
    parallelism: usize,
    n: usize,
    bound: Duration,
    wall: Duration,
    writes: usize,
    max_in_flight: usize,
}

fn run(rt: &tokio::runtime::Runtime, text: &str, parallelism: usize) -> Row {
    let provider = Arc::new(TestProvider::new());
    let factory = test_factory(provider.clone());
    let config =
        load_with_env("strata.yaml", text, None, &factory, &|_| None).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let n = config.resources.len();
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path().join("state.json")));
    let state = State::new();
    let p = rt.block_on(plan(&config, &state, &PlanOptions::default())).unwrap();
    assert_eq!(p.summary.create, n);
    provider.set_latency(LATENCY);
    let opts = ApplyOptions { parallelism, ..Default::default() };
    let (_tx, rx) = watch::channel(0);
    let start = Instant::now();
    let report = rt.block_on(apply(&config, &p, state, backend, &opts, &Silent, rx)).unwrap();
    let wall = start.elapsed();
    assert_eq!(report.failed(), 0);
    assert_eq!(provider.object_count(), n);
    let critical = LATENCY * LAYERS as u32;
    let work = LATENCY * n as u32 / parallelism as u32;
    Row {
        parallelism,
        n,
        bound: critical.max(work),
        wall,
        writes: report.state_writes,
        max_in_flight: provider.max_in_flight(),
    }
}

fn main() {
    let levels: Vec<usize> = std::env::var("STRATA_BENCH_PARALLELISM")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().expect("numbers")).collect())
        .unwrap_or_else(|| vec![10, 50, 100]);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let text = spec();
    println!("## apply walk: {} resources, depth {LAYERS}, {} ms per call\n", LAYERS * WIDTH, LATENCY.as_millis());
    println!("| parallelism | N | depth | bound | wall | ratio | max in flight | state writes |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut missed = Vec::new();
    for p in levels {
        let r = run(&rt, &text, p);
        let ratio = r.wall.as_secs_f64() / r.bound.as_secs_f64();
        println!(
            "| {} | {} | {LAYERS} | {} ms | {} ms | {ratio:.2} | {} | {} |",
            r.parallelism,
            r.n,
            r.bound.as_millis(),
            r.wall.as_millis(),
            r.max_in_flight,
            r.writes
        );
        if ratio > 1.25 {
            missed.push(r.parallelism);
        }
    }
    if !missed.is_empty() {
        println!("\ntarget (wall ≤ 1.25 × bound) missed at parallelism {missed:?}");
    }
}
