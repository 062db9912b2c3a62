//! Plan at scale: load (parse + lower + references + cycle check) and plan with refresh of a spec
//! of N raw test resources whose state is present and unchanged, so the plan is all no-ops.
//!
//! ```text
//! cargo bench -p strata-engine --bench plan                 # 1k, 10k, 100k
//! STRATA_BENCH_SIZES=1000,5000 cargo bench -p strata-engine --bench plan
//! ```
//!
//! Each size runs in its own child process (this binary with `--child <n>`), so the peak RSS
//! reported (VmHWM) is that size's own. The child builds the spec text, the state and the test
//! provider's remote objects first (not timed), then times `load_with_env` and
//! `plan(refresh: true)`; the test provider's batched read is in-memory with no latency.
//!
//! Diagnostics for profiling one size: `STRATA_BENCH_TRACE=1 <bench binary> --child 100000`
//! prints the peak after setup, load and plan; `STRATA_BENCH_LOAD_ONLY=1` stops after loading
//! (no state), for `perf record` / `heaptrack` of the loader alone.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use strata_engine::config::{load_with_env, test_factory};
use strata_engine::plan::{PlanOptions, plan};
use strata_engine::state::{ResourceState, State};
use strata_sdk::Address;
use strata_testkit::TestProvider;

/// Resource `i` references `upstream(i)`'s output `id` and, for even `i`, `peer(i)`'s attribute
/// `zone`; every fifth also has an explicit `depends_on` on `i / 2`: ~1.7 edges per resource.
fn upstream(i: usize) -> usize {
    (i * 7919) % i
}

fn peer(i: usize) -> usize {
    (i * 104_729 + 13) % i
}

fn spec(n: usize) -> String {
    let mut s = String::with_capacity(n * 190);
    s.push_str("version: 1\nproject: bench\nresources:\n");
    for i in 0..n {
        s.push_str(&format!("  - name: r{i}\n"));
        if i % 5 == 4 {
            s.push_str(&format!("    depends_on: [resources.r{}]\n", i / 2));
        }
        s.push_str(&format!(
            "    test: {{ kind: widget, size: {}, zone: z{}, labels: {{ app: r{i}, tier: t{} }}",
            i % 97,
            i % 7,
            i % 3
        ));
        if i > 0 {
            s.push_str(&format!(", upstream: \"${{resources.r{}.id}}\"", upstream(i)));
            if i > 1 && i % 2 == 0 {
                s.push_str(&format!(", zone_of_peer: \"${{resources.r{}.zone}}\"", peer(i)));
            }
        }
        s.push_str(" }\n");
    }
    s
}

fn remote_id(i: usize) -> String {
    format!("resources.r{i}-pre")
}

/// The attributes resource `i` was applied with: the spec's, references resolved.
fn applied_attrs(i: usize) -> Value {
    let mut v = json!({"size": i % 97, "zone": format!("z{}", i % 7), "labels": {"app": format!("r{i}"), "tier": format!("t{}", i % 3)}});
    if i > 0 {
        v["upstream"] = json!(remote_id(upstream(i)));
        if i > 1 && i.is_multiple_of(2) {
            v["zone_of_peer"] = json!(format!("z{}", peer(i) % 7));
        }
    }
    v
}

/// State as an earlier apply left it, and the same objects in the test provider's store (the
/// "remote" side, which a real run would not hold in its own memory).
fn present_state(n: usize, provider: &TestProvider) -> State {
    let mut state = State::new();
    state.serial = 1;
    for i in 0..n {
        let address: Address = format!("resources.r{i}").parse().unwrap();
        let attrs = applied_attrs(i);
        provider.insert(address.as_str(), attrs.clone());
        let mut deps = Vec::new();
        if i > 0 {
            deps.push(upstream(i));
            if i > 1 && i % 2 == 0 {
                deps.push(peer(i));
            }
            if i % 5 == 4 {
                deps.push(i / 2);
            }
        }
        deps.sort();
        deps.dedup();
        state.resources.insert(
            address,
            ResourceState {
                provider: "test".into(),
                kind: "widget".into(),
                remote_id: remote_id(i),
                attrs,
                outputs: json!({"id": remote_id(i)}),
                depends_on: deps.into_iter().map(|d| format!("resources.r{d}").parse().unwrap()).collect(),
                sensitive: Vec::new(),
            },
        );
    }
    state
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Peak resident set size so far.
fn vm_hwm_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

fn vm_rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

/// Resets the peak to the current RSS (Linux: `5` in /proc/self/clear_refs).
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs one size and prints `RESULT n setup_ms load_ms plan_ms peak_kib yaml_bytes edges base_kib`.
fn child(n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // Shared, as the CLI hands its spec text over: the loader keeps it for diagnostics.
    let text: Arc<str> = spec(n).into();
    let provider = Arc::new(TestProvider::new());
    let factory = test_factory(provider.clone());

    // Setup (not timed): the state and the remote objects, as an earlier apply left them.
    let setup = Instant::now();
    let state =
        if std::env::var_os("STRATA_BENCH_LOAD_ONLY").is_some() { State::new() } else { present_state(n, &provider) };
    let setup_ms = setup.elapsed().as_secs_f64() * 1000.0;
    let setup_hwm = vm_hwm_kib();
    // From here on, the peak is what loading and planning add to the state and remote objects.
    reset_hwm();
    let base_rss = vm_rss_kib();

    let t0 = Instant::now();
    let config = load_with_env("strata.yaml", text.clone(), None, &factory, &|_| None)
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let load_hwm = vm_hwm_kib();
    if std::env::var_os("STRATA_BENCH_LOAD_ONLY").is_some() {
        eprintln!("load {load_ms:.0} ms, peak {load_hwm} KiB, base {base_rss} KiB");
        return;
    }
    let t1 = Instant::now();
    let opts = PlanOptions { refresh: true, ..Default::default() };
    let p = rt.block_on(plan(&config, &state, &opts)).expect("plan");
    let plan_ms = t1.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(p.summary.no_op, n, "an unchanged state must plan to no-ops: {:?}", p.summary);
    assert!(!p.summary.has_changes());
    let edges: usize = config.deps.iter().map(Vec::len).sum();
    let plan_hwm = vm_hwm_kib();
    if std::env::var_os("STRATA_BENCH_TRACE").is_some() {
        eprintln!(
            "setup peak {setup_hwm} KiB, base {base_rss} KiB, load peak {load_hwm} KiB, plan peak {plan_hwm} KiB"
        );
    }
    println!("RESULT {n} {setup_ms:.1} {load_ms:.1} {plan_ms:.1} {plan_hwm} {} {edges} {base_rss}", text.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1].parse().expect("--child <n>"));
        return;
    }
    let sizes: Vec<usize> = std::env::var("STRATA_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().expect("STRATA_BENCH_SIZES: numbers")).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let exe = std::env::current_exe().unwrap();
    println!("## plan: load + plan(refresh) of N unchanged test resources\n");
    println!(
        "| resources | edges | spec size | parse+load | plan (refresh) | total | per resource | peak RSS | before load |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows: Vec<(usize, f64, u64)> = Vec::new();
    for n in sizes {
        let out = Command::new(&exe).args(["--child", &n.to_string()]).output().expect("child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            eprintln!("size {n} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let (load, plan_ms): (f64, f64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
        let hwm: u64 = f[5].parse().unwrap();
        let bytes: f64 = f[6].parse().unwrap();
        let base: u64 = f[8].parse().unwrap();
        let total = load + plan_ms;
        println!(
            "| {n} | {} | {:.1} MiB | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} µs | {:.0} MiB | {:.0} MiB |",
            f[7],
            bytes / 1048576.0,
            load,
            plan_ms,
            total,
            total * 1000.0 / n as f64,
            hwm as f64 / 1024.0,
            base as f64 / 1024.0
        );
        rows.push((n, total, hwm));
    }
    if rows.len() >= 2 {
        let (n0, t0, _) = rows[0];
        let growth: Vec<String> = rows
            .iter()
            .skip(1)
            .map(|(n, t, _)| format!("{n}: {:.2}× per resource vs {n0}", (t / *n as f64) / (t0 / n0 as f64)))
            .collect();
        println!("\nper-resource cost relative to the smallest size: {}", growth.join(", "));
        println!(
            "peak RSS: the whole process while loading and planning; before load: the state and the test \
             provider's remote objects, built before timing starts"
        );
    }
}
