//! Refresh at scale (issue 3): a no-op refresh of N strata-owned objects of 10 namespaced kinds
//! in 2 namespaces against the in-process test API server with added latency per request, next
//! to one GET per object at parallelism 10.
//!
//! ```text
//! cargo bench -p strata-provider-kubernetes --bench refresh
//! STRATA_BENCH_OBJECTS=20000 STRATA_BENCH_LATENCY_MS=25 cargo bench -p strata-provider-kubernetes --bench refresh
//! ```
//!
//! Environment: `STRATA_BENCH_OBJECTS` (default 2000), `STRATA_BENCH_LATENCY_MS` (default 10),
//! `STRATA_BENCH_PARALLELISM` (of the per-object baselines, default 10), `STRATA_BENCH_RUNS`
//! (timed runs per mode, median reported, default 5). `STRATA_BENCH_PROFILE=K` only repeats the warm
//! batched read K times without latency (for `perf record`) and prints its mean.
//! `STRATA_BENCH_PER_OBJECT_READ=0|1` skips or forces the "provider read per object" row (default:
//! only up to 5,000 objects, as each of those reads LISTs its whole kind and namespace).
//!
//! Setup (not timed, no latency): 2 namespaces, a CustomResourceDefinition, and N objects created
//! through the provider's `create` (server-side apply), so they carry strata's ownership marks.
//! Then latency is set and each mode runs with the server's counters reset before each run.
//!
//! The measured unit is the provider's batched `read` with every object's request in one call:
//! that is exactly what `strata plan` does on refresh (`strata::plan::refresh` makes one
//! `Provider::read` per provider; driving the whole plan from this crate would need the CLI
//! crate, which depends on this one). "cold" uses a new provider instance per run, as a `strata
//! plan` process does, so discovery is included; "warm" reuses an instance whose discovery cache
//! is filled. Every run checks the no-op: each object found, as strata's own, at its remote id,
//! with every attribute the manifest set unchanged (the plan's diff rule, ignored paths skipped).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kube::Api;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube_test_server::{Counters, TestServer, spawn_for_tests};
use serde_json::{Value, json};
use strata_provider_kubernetes::{
    KubernetesConfig, KubernetesProvider, LIST_PAGE_SIZE, OwnershipMarks, evaluate_ownership, kind_schema,
    strip_server_fields,
};
use strata_sdk::{Address, KindSchema, Observed, Ownership, Provider, ProviderError, ReadRequest, ResourceChange};

const NAMESPACES: [&str; 2] = ["bench-a", "bench-b"];
const CRD_GROUP: &str = "bench.strata.dev";

/// One namespaced kind the test server serves: strata kind, group, version, Kind, plural, and
/// the short name used in object names and addresses.
struct KindDef {
    strata_kind: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static str,
}

const KINDS: [KindDef; 10] = [
    KindDef {
        strata_kind: "v1/ConfigMap",
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        short: "cm",
    },
    KindDef { strata_kind: "v1/Secret", group: "", version: "v1", kind: "Secret", plural: "secrets", short: "secret" },
    KindDef { strata_kind: "v1/Service", group: "", version: "v1", kind: "Service", plural: "services", short: "svc" },
    KindDef {
        strata_kind: "v1/ServiceAccount",
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        short: "sa",
    },
    KindDef {
        strata_kind: "apps/v1/Deployment",
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        short: "deploy",
    },
    KindDef {
        strata_kind: "autoscaling/v2/HorizontalPodAutoscaler",
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        short: "hpa",
    },
    KindDef {
        strata_kind: "policy/v1/PodDisruptionBudget",
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        short: "pdb",
    },
    KindDef {
        strata_kind: "v1/ResourceQuota",
        group: "",
        version: "v1",
        kind: "ResourceQuota",
        plural: "resourcequotas",
        short: "quota",
    },
    KindDef {
        strata_kind: "v1/LimitRange",
        group: "",
        version: "v1",
        kind: "LimitRange",
        plural: "limitranges",
        short: "limits",
    },
    KindDef {
        strata_kind: "bench.strata.dev/v1/Widget",
        group: CRD_GROUP,
        version: "v1",
        kind: "Widget",
        plural: "widgets",
        short: "widget",
    },
];

fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}: expected a number, got {v:?}")),
        Err(_) => default,
    }
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap_or_else(|e| panic!("address {s:?}: {e}"))
}

/// Object `i`: kind `i % 10`, namespace `(i / 10) % 2`, so every (kind, namespace) gets N / 20.
struct Object {
    address: Address,
    kind: usize,
    namespace: &'static str,
    name: String,
    /// The manifest as the spec has it (what a `strata plan` diffs against).
    desired: Value,
}

impl Object {
    fn remote_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn read_request(&self) -> ReadRequest<'_> {
        ReadRequest {
            address: self.address.clone(),
            kind: KINDS[self.kind].strata_kind.into(),
            remote_id: Some(self.remote_id()),
            attrs: Some(&self.desired),
        }
    }
}

fn manifest(k: &KindDef, namespace: &str, name: &str, i: usize) -> Value {
    let api_version = if k.group.is_empty() { k.version.to_string() } else { format!("{}/{}", k.group, k.version) };
    let mut m = json!({
        "apiVersion": api_version,
        "kind": k.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, "tier": format!("t{}", i % 3)}},
    });
    let select = json!({"matchLabels": {"app": name}});
    let body = match k.kind {
        "ConfigMap" => json!({"data": {"index": i.to_string(), "zone": format!("z{}", i % 7)}}),
        "Secret" => json!({"type": "Opaque", "data": {"token": "c2VjcmV0LXRva2Vu"}}),
        "Service" => json!({"spec": {"selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
        "ServiceAccount" => json!({"automountServiceAccountToken": false}),
        "Deployment" => json!({"spec": {"replicas": 1 + i % 3, "selector": select,
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
                    "ports": [{"containerPort": 8080}]}]}}}}),
        "HorizontalPodAutoscaler" => json!({"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1, "maxReplicas": 3 + i % 5,
            "metrics": [{"type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}),
        "PodDisruptionBudget" => json!({"spec": {"minAvailable": 1, "selector": select}}),
        "ResourceQuota" => json!({"spec": {"hard": {"pods": format!("{}", 10 + i % 10), "configmaps": "50"}}}),
        "LimitRange" => json!({"spec": {"limits": [{"type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"}}]}}),
        "Widget" => json!({"spec": {"size": i % 7, "color": format!("c{}", i % 4)}}),
        other => unreachable!("no manifest for {other}"),
    };
    for (key, v) in body.as_object().expect("a mapping") {
        m[key] = v.clone();
    }
    m
}

fn objects(n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| {
            let kind = i % KINDS.len();
            let namespace = NAMESPACES[(i / KINDS.len()) % NAMESPACES.len()];
            let name = format!("{}-{i}", KINDS[kind].short);
            let desired = manifest(&KINDS[kind], namespace, &name, i);
            Object { address: addr(&format!("resources.{name}")), kind, namespace, name, desired }
        })
        .collect()
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{CRD_GROUP}")},
        "spec": {
            "group": CRD_GROUP, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}

fn provider(server: &TestServer) -> KubernetesProvider {
    KubernetesProvider::new(KubernetesConfig::for_server(server.url()), OwnershipMarks::new("bench", "prod"))
        .expect("provider")
}

fn change(address: &Address, kind: &str, attrs: Value) -> ResourceChange {
    ResourceChange { address: address.clone(), kind: kind.into(), attrs, prior: None }
}

/// Namespaces, the Widget CRD and every object, through the provider's create.
async fn seed(server: &TestServer, objs: &[Object]) {
    let p = provider(server);
    for ns in NAMESPACES {
        let ns_manifest = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        p.create(&change(&addr(&format!("resources.ns-{ns}")), "v1/Namespace", ns_manifest)).await.expect("namespace");
    }
    p.create(&change(&addr("resources.widgets-crd"), "apiextensions.k8s.io/v1/CustomResourceDefinition", crd()))
        .await
        .expect("CRD");
    let creates = objs.iter().map(|o| {
        let p = &p;
        async move {
            p.create(&change(&o.address, KINDS[o.kind].strata_kind, o.desired.clone()))
                .await
                .unwrap_or_else(|e| panic!("create {}: {e}", o.address))
        }
    });
    let applied: Vec<_> = stream::iter(creates).buffer_unordered(16).collect().await;
    assert_eq!(applied.len(), objs.len());
}

/// The plan's no-op rule: every value the desired manifest sets is equal in the live object,
/// except under the kind's ignored paths. Returns the first difference.
fn first_difference(
    desired: &Value,
    actual: Option<&Value>,
    schema: &KindSchema,
    path: &mut Vec<String>,
) -> Option<String> {
    if !path.is_empty() && schema.is_ignored(path) {
        return None;
    }
    match (desired, actual) {
        (Value::Object(d), Some(Value::Object(a))) => {
            for (k, dv) in d {
                path.push(k.clone());
                let diff = first_difference(dv, a.get(k), schema, path);
                path.pop();
                if diff.is_some() {
                    return diff;
                }
            }
            None
        }
        (Value::Array(d), Some(Value::Array(a))) if d.len() == a.len() => {
            for (idx, (dv, av)) in d.iter().zip(a).enumerate() {
                path.push(idx.to_string());
                let diff = first_difference(dv, Some(av), schema, path);
                path.pop();
                if diff.is_some() {
                    return diff;
                }
            }
            None
        }
        (Value::Number(x), Some(Value::Number(y))) if x == y || x.as_f64() == y.as_f64() => None,
        (d, Some(a)) if d == a => None,
        (d, a) => {
            Some(format!("/{}: desired {d}, live {}", path.join("/"), a.map_or("absent".into(), Value::to_string)))
        }
    }
}

/// Checks that a refresh is a no-op: every object found as strata's own, unchanged.
fn check_no_op(mode: &str, objs: &[Object], results: &[Result<Option<Observed>, ProviderError>]) -> usize {
    assert_eq!(results.len(), objs.len(), "{mode}: one result per request");
    let schemas: Vec<KindSchema> = KINDS.iter().map(|k| kind_schema(k.strata_kind)).collect();
    for (o, r) in objs.iter().zip(results) {
        let obs = match r {
            Ok(Some(obs)) => obs,
            Ok(None) => panic!("{mode}: {} not found", o.address),
            Err(e) => panic!("{mode}: {}: {e}", o.address),
        };
        assert_eq!(obs.ownership, Ownership::Ours, "{mode}: {} is not strata's own", o.address);
        assert_eq!(obs.remote_id, o.remote_id(), "{mode}: {}", o.address);
        if let Some(d) = first_difference(&o.desired, Some(&obs.attrs), &schemas[o.kind], &mut Vec::new()) {
            panic!("{mode}: {} changed: {d}", o.address);
        }
    }
    results.len()
}

fn delta(before: Counters, after: Counters) -> Counters {
    Counters {
        get: after.get - before.get,
        list: after.list - before.list,
        watch: after.watch - before.watch,
        create: after.create - before.create,
        update: after.update - before.update,
        patch: after.patch - before.patch,
        apply: after.apply - before.apply,
        delete: after.delete - before.delete,
        discovery: after.discovery - before.discovery,
        other: after.other - before.other,
    }
}

/// One timed run: wall time, the server's request counts, and the results.
type Run = (Duration, Counters, Vec<Result<Option<Observed>, ProviderError>>);

async fn timed<F, Fut>(server: &TestServer, f: F) -> Run
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<Result<Option<Observed>, ProviderError>>>,
{
    server.knobs().reset_counters();
    let before = server.knobs().counters();
    let t = Instant::now();
    let results = f().await;
    let wall = t.elapsed();
    (wall, delta(before, server.knobs().counters()), results)
}

/// One GET per object with a plain kube client, `parallelism` at a time, each live object
/// shaped and judged as the provider does (ownership, server fields stripped).
async fn get_per_object(
    client: &kube::Client,
    objs: &[Object],
    parallelism: usize,
) -> Vec<Result<Option<Observed>, ProviderError>> {
    let resources: Vec<ApiResource> = KINDS
        .iter()
        .map(|k| ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(k.group, k.version, k.kind), k.plural))
        .collect();
    let marks = OwnershipMarks::new("bench", "prod");
    let gets = objs.iter().enumerate().map(|(i, o)| {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), o.namespace, &resources[o.kind]);
        let marks = &marks;
        async move {
            let r = match api.get_opt(&o.name).await {
                Ok(Some(obj)) => {
                    let mut live = serde_json::to_value(&obj).expect("JSON");
                    let (api_version, kind) = (o.desired["apiVersion"].clone(), o.desired["kind"].clone());
                    live["apiVersion"] = api_version;
                    live["kind"] = kind;
                    let outputs = json!({"uid": live["metadata"]["uid"], "resourceVersion": live["metadata"]["resourceVersion"],
                        "name": live["metadata"]["name"], "namespace": live["metadata"]["namespace"]});
                    let ownership = evaluate_ownership(&live, marks, &o.address);
                    strip_server_fields(&mut live);
                    Ok(Some(Observed { remote_id: o.remote_id(), attrs: live, outputs, ownership }))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(ProviderError::other(e.to_string())),
            };
            (i, r)
        }
    });
    let mut out: Vec<_> = stream::iter(gets).buffer_unordered(parallelism).collect().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// The provider's read called with one request at a time, `parallelism` calls at once.
async fn provider_per_object(
    p: &KubernetesProvider,
    requests: &[ReadRequest<'_>],
    parallelism: usize,
) -> Vec<Result<Option<Observed>, ProviderError>> {
    let reads = requests.iter().enumerate().map(|(i, r)| async move {
        let mut out = p.read(std::slice::from_ref(r)).await;
        (i, out.pop().expect("one result"))
    });
    let mut out: Vec<_> = stream::iter(reads).buffer_unordered(parallelism).collect().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

struct Row {
    mode: String,
    walls: Vec<Duration>,
    counters: Counters,
}

impl Row {
    fn median_ms(&self) -> f64 {
        let mut w: Vec<f64> = self.walls.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        w.sort_by(f64::total_cmp);
        w[w.len() / 2]
    }
}

fn main() {
    let n = env_or("STRATA_BENCH_OBJECTS", 2000);
    let latency_ms = env_or("STRATA_BENCH_LATENCY_MS", 10);
    let parallelism = env_or("STRATA_BENCH_PARALLELISM", 10).max(1);
    let runs = env_or("STRATA_BENCH_RUNS", 5).max(1);
    // Each per-object provider read LISTs its whole (kind, namespace): quadratic, so only by default
    // up to 5,000 objects.
    let per_object_read = env_or("STRATA_BENCH_PER_OBJECT_READ", usize::from(n <= 5000)) != 0;
    let server = spawn_for_tests();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let objs = objects(n);
        let t = Instant::now();
        seed(&server, &objs).await;
        eprintln!("seeded {n} objects in {:.1} s (no latency)", t.elapsed().as_secs_f64());
        let requests: Vec<ReadRequest<'_>> = objs.iter().map(Object::read_request).collect();
        let mut per_group: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        for o in &objs {
            *per_group.entry((o.kind, o.namespace)).or_default() += 1;
        }
        let groups = per_group.len();
        let page = LIST_PAGE_SIZE as usize;
        let pages_per_group = per_group.values().map(|c| c.div_ceil(page)).max().unwrap_or(0);
        let expected_pages: usize = per_group.values().map(|c| c.div_ceil(page).max(1)).sum();

        // A provider whose discovery cache is filled, and a plain client, before latency is on.
        let warm = Arc::new(provider(&server));
        check_no_op("warm-up", &objs, &warm.read(&requests).await);
        let client = kube::Client::try_from(kube::Config::new(server.url().parse().expect("URL"))).expect("client");
        if let Ok(k) = std::env::var("STRATA_BENCH_PROFILE") {
            // For `perf record`: only the warm batched read, k times, no latency.
            let k: usize = k.parse().unwrap_or(50);
            let t = Instant::now();
            for _ in 0..k {
                check_no_op("profile", &objs, &warm.read(&requests).await);
            }
            eprintln!("{k} warm batched reads, no latency: {:.1} ms each", t.elapsed().as_secs_f64() * 1000.0 / k as f64);
            return;
        }
        server.knobs().set_latency(Duration::from_millis(latency_ms as u64));

        let mut rows: Vec<Row> = Vec::new();
        let record = |mode: &str, run: Run, rows: &mut Vec<Row>| {
            check_no_op(mode, &objs, &run.2);
            match rows.iter_mut().find(|r| r.mode == mode) {
                Some(row) => {
                    assert_eq!(row.counters, run.1, "{mode}: requests differ between runs");
                    row.walls.push(run.0);
                }
                None => rows.push(Row { mode: mode.into(), walls: vec![run.0], counters: run.1 }),
            }
        };
        let cold_mode = "batched read, cold (new provider, as `strata plan`)";
        let warm_mode = "batched read, warm discovery";
        let get_mode = format!("one GET per object, parallelism {parallelism}");
        let per_read_mode = format!("provider read per object, parallelism {parallelism}");
        for _ in 0..runs {
            let cold = provider(&server);
            record(cold_mode, timed(&server, || cold.read(&requests)).await, &mut rows);
            record(warm_mode, timed(&server, || warm.read(&requests)).await, &mut rows);
            record(&get_mode, timed(&server, || get_per_object(&client, &objs, parallelism)).await, &mut rows);
            if per_object_read {
                record(
                    &per_read_mode,
                    timed(&server, || provider_per_object(&warm, &requests, parallelism)).await,
                    &mut rows,
                );
            }
        }
        server.knobs().reset();

        let baseline = rows.iter().find(|r| r.mode == get_mode).expect("baseline row").median_ms();
        println!(
            "## refresh: no-op read of {n} strata-owned objects, {} kinds × {} namespaces, {latency_ms} ms per request\n",
            KINDS.len(),
            NAMESPACES.len()
        );
        println!(
            "| mode | objects | kinds×namespaces | requests (LIST/GET) | discovery | pages | wall ms | speedup |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &rows {
            let c = r.counters;
            let other = c.total() - c.list - c.get - c.discovery;
            assert_eq!(other, 0, "{}: unexpected requests {c:?}", r.mode);
            let pages = if r.mode.starts_with("batched") { c.list.to_string() } else { "–".into() };
            let ms = r.median_ms();
            println!(
                "| {} | {n} | {groups} | {} ({}/{}) | {} | {pages} | {ms:.0} | {:.1}× |",
                r.mode,
                c.list + c.get,
                c.list,
                c.get,
                c.discovery,
                baseline / ms
            );
        }
        println!(
            "\npage size {page} (LIST_PAGE_SIZE), {pages_per_group} page(s) per (kind, namespace), {expected_pages} pages \
             expected; wall: median of {runs} run(s), all runs in ms:"
        );
        for r in &rows {
            let all: Vec<String> = r.walls.iter().map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0)).collect();
            println!("- {}: {}", r.mode, all.join(", "));
        }
        let bound = (groups * pages_per_group.max(1)) as u64;
        for mode in [cold_mode, warm_mode] {
            let r = rows.iter().find(|r| r.mode == mode).expect("row");
            let reqs = r.counters.list + r.counters.get;
            let speedup = baseline / r.median_ms();
            println!(
                "\ntarget, {mode}: requests {reqs} ≤ {bound} (kinds×namespaces×pages): {}; speedup {speedup:.1}× ≥ 20×: {}{}",
                if reqs <= bound { "met" } else { "NOT met" },
                if speedup >= 20.0 { "met" } else { "NOT met" },
                if r.counters.discovery > 0 {
                    format!(" (plus {} discovery requests, one per API group-version)", r.counters.discovery)
                } else {
                    String::new()
                }
            );
        }
        println!("\nno-op verified in every run of every mode: {n} of {n} objects found as strata's own, unchanged");
    });
}
