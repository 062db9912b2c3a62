//! The Kubernetes provider against the in-process test API server (`kube-test-server`).

use std::time::Duration;

use futures::stream::{self, StreamExt};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube_test_server::{Counters, FaultKind, FaultRule, TestServer, Verb, spawn_for_tests};
use serde_json::{Value, json};
use strata_provider_kubernetes::{KubernetesConfig, KubernetesProvider, OwnershipMarks};
use strata_sdk::{
    Address, DeleteRequest, ErrorClass, Observed, Ownership, Provider, ReadRequest, Resource, ResourceChange,
};

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn provider_with(server: &TestServer, env: &str, force: bool) -> KubernetesProvider {
    let config = KubernetesConfig {
        force_conflicts: force,
        delete_timeout: Duration::from_secs(10),
        ..KubernetesConfig::for_server(server.url())
    };
    KubernetesProvider::new(config, OwnershipMarks::new("apex", env)).unwrap()
}

fn provider(server: &TestServer) -> KubernetesProvider {
    provider_with(server, "prod", false)
}

fn change(address: &str, kind: &str, attrs: Value) -> ResourceChange {
    ResourceChange { address: addr(address), kind: kind.into(), attrs, prior: None }
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn config_map(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn read_by_id(address: &str, kind: &str, remote_id: &str) -> ReadRequest<'static> {
    ReadRequest { address: addr(address), kind: kind.into(), remote_id: Some(remote_id.into()), attrs: None }
}

fn read_by_attrs<'a>(address: &str, kind: &str, attrs: &'a Value) -> ReadRequest<'a> {
    ReadRequest { address: addr(address), kind: kind.into(), remote_id: None, attrs: Some(attrs) }
}

async fn setup_namespace(p: &KubernetesProvider, name: &str) {
    p.create(&change(&format!("resources.ns-{name}"), "v1/Namespace", namespace(name))).await.unwrap();
}

/// A raw kube client, for objects strata does not create.
async fn raw_api(server: &TestServer, ns: &str, gvk: (&str, &str, &str)) -> Api<DynamicObject> {
    let config = kube::Config::new(server.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(gvk.0, gvk.1, gvk.2));
    Api::namespaced_with(client, ns, &ar)
}

async fn create_foreign_config_map(server: &TestServer, ns: &str, name: &str, manager: &str, data: Value) {
    let api = raw_api(server, ns, ("", "v1", "ConfigMap")).await;
    let obj: DynamicObject = serde_json::from_value(config_map(ns, name, data)).unwrap();
    let pp = PostParams { field_manager: Some(manager.into()), ..PostParams::default() };
    api.create(&pp, &obj).await.unwrap();
}

fn observed(r: &Result<Option<Observed>, strata_sdk::ProviderError>) -> &Observed {
    r.as_ref().unwrap().as_ref().expect("object exists")
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

#[tokio::test]
async fn creates_with_server_side_apply_and_reads_back_as_ours() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let before = server.knobs().counters();
    let applied = p
        .create(&change("resources.edge-config", "v1/ConfigMap", config_map("apex", "edge", json!({"key": "value"}))))
        .await
        .unwrap();
    assert_eq!(delta(before, server.knobs().counters()).apply, 1);
    assert_eq!(applied.remote_id, "apex/edge");
    let labels = &applied.attrs["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "strata");
    assert_eq!(labels["strata.dev/project"], "apex");
    assert_eq!(labels["strata.dev/env"], "prod");
    assert_eq!(applied.attrs["metadata"]["annotations"]["strata.dev/address"], "resources.edge-config");
    assert_eq!(applied.outputs["name"], "edge");
    assert_eq!(applied.outputs["namespace"], "apex");
    assert!(applied.outputs["uid"].as_str().is_some_and(|u| !u.is_empty()));

    let out = p.read(&[read_by_id("resources.edge-config", "v1/ConfigMap", "apex/edge")]).await;
    let o = observed(&out[0]);
    assert_eq!(o.ownership, Ownership::Ours);
    assert_eq!(o.remote_id, "apex/edge");
    assert_eq!(o.attrs["data"], json!({"key": "value"}));
    assert_eq!(o.attrs["apiVersion"], "v1");
    assert_eq!(o.attrs["kind"], "ConfigMap");
    let meta = o.attrs["metadata"].as_object().unwrap();
    for stripped in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"] {
        assert!(!meta.contains_key(stripped), "{stripped} not stripped: {meta:?}");
    }
    assert_eq!(o.outputs["uid"], applied.outputs["uid"]);

    // Update is the same apply; a changed value lands.
    let updated = p
        .update(&change("resources.edge-config", "v1/ConfigMap", config_map("apex", "edge", json!({"key": "changed"}))))
        .await
        .unwrap();
    assert_ne!(updated.outputs["resourceVersion"], applied.outputs["resourceVersion"]);
    let out = p.read(&[read_by_id("resources.edge-config", "v1/ConfigMap", "apex/edge")]).await;
    assert_eq!(observed(&out[0]).attrs["data"]["key"], "changed");
}

#[tokio::test]
async fn namespace_defaults_and_cluster_scoped_ids() {
    let server = spawn_for_tests();
    let config = KubernetesConfig { namespace: Some("apex".into()), ..KubernetesConfig::for_server(server.url()) };
    let p = KubernetesProvider::new(config, OwnershipMarks::new("apex", "prod")).unwrap();
    let ns = p.create(&change("resources.ns", "v1/Namespace", namespace("apex"))).await.unwrap();
    assert_eq!(ns.remote_id, "apex");
    assert_eq!(ns.outputs["namespace"], Value::Null);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "no-ns"}});
    let applied = p.create(&change("resources.cm", "v1/ConfigMap", cm.clone())).await.unwrap();
    assert_eq!(applied.remote_id, "apex/no-ns");
    assert_eq!(applied.attrs["metadata"]["namespace"], "apex");
    let out = p
        .read(&[read_by_attrs("resources.cm", "v1/ConfigMap", &cm), read_by_id("resources.ns", "v1/Namespace", "apex")])
        .await;
    assert_eq!(observed(&out[0]).remote_id, "apex/no-ns");
    assert_eq!(observed(&out[1]).ownership, Ownership::Ours);
    // A namespace on a cluster-scoped kind is refused before any request.
    let bad = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "apex"}});
    let e = p.create(&change("resources.bad", "v1/Namespace", bad)).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Invalid);
    assert!(e.message.contains("cluster-scoped"), "{}", e.message);
}

#[tokio::test]
async fn batched_read_lists_once_per_kind_and_namespace() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    setup_namespace(&p, "beta").await;
    let mut requests = Vec::new();
    for (ns, n) in [("apex", 5), ("beta", 3)] {
        for i in 0..n {
            let a = format!("resources.cm-{ns}-{i}");
            let name = format!("cm-{i}");
            p.create(&change(&a, "v1/ConfigMap", config_map(ns, &name, json!({"i": i.to_string()})))).await.unwrap();
            requests.push(read_by_id(&a, "v1/ConfigMap", &format!("{ns}/{name}")));
        }
    }
    for i in 0..2 {
        let a = format!("resources.secret-{i}");
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": format!("s-{i}"), "namespace": "apex"},
            "stringData": {"password": "hunter2"}});
        p.create(&change(&a, "v1/Secret", secret)).await.unwrap();
        requests.push(read_by_id(&a, "v1/Secret", &format!("apex/s-{i}")));
    }
    // Owned objects only: 3 LISTs (ConfigMaps in apex and beta, Secrets in apex), no GET,
    // no discovery (cached from the creates).
    let before = server.knobs().counters();
    let out = p.read(&requests).await;
    let d = delta(before, server.knobs().counters());
    assert!(out.iter().all(|r| observed(r).ownership == Ownership::Ours));
    assert_eq!((d.list, d.get, d.discovery, d.total()), (3, 0, 0, 3), "{d:?}");
    assert_eq!(observed(&out[6]).remote_id, "beta/cm-1");

    // A name the LIST did not return costs one GET (to tell absent from foreign).
    let mut with_ghost = requests.clone();
    let ghost = config_map("apex", "ghost", json!({}));
    with_ghost.push(read_by_attrs("resources.ghost", "v1/ConfigMap", &ghost));
    let before = server.knobs().counters();
    let out = p.read(&with_ghost).await;
    let d = delta(before, server.knobs().counters());
    assert_eq!(out.last().unwrap().as_ref().unwrap(), &None);
    assert_eq!((d.list, d.get, d.total()), (3, 1, 4), "{d:?}");

    // A fresh provider (a new run) discovers the core group version once.
    let fresh = provider(&server);
    let before = server.knobs().counters();
    fresh.read(&requests).await;
    let d = delta(before, server.knobs().counters());
    assert_eq!((d.list, d.get, d.discovery), (3, 0, 1), "{d:?}");
}

#[tokio::test]
async fn batched_read_pages_through_large_lists() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let n = 520;
    let creates: Vec<_> = (0..n)
        .map(|i| {
            let p = &p;
            async move {
                p.create(&change(
                    &format!("resources.cm-{i}"),
                    "v1/ConfigMap",
                    config_map("apex", &format!("cm-{i:04}"), json!({})),
                ))
                .await
                .unwrap();
            }
        })
        .collect();
    stream::iter(creates).buffer_unordered(16).collect::<Vec<_>>().await;
    let requests: Vec<_> =
        (0..n).map(|i| read_by_id(&format!("resources.cm-{i}"), "v1/ConfigMap", &format!("apex/cm-{i:04}"))).collect();
    let before = server.knobs().counters();
    let out = p.read(&requests).await;
    let d = delta(before, server.knobs().counters());
    assert!(out.iter().all(|r| observed(r).ownership == Ownership::Ours));
    // 520 objects, pages of 500: two LIST requests, nothing else.
    assert_eq!((d.list, d.get, d.total()), (2, 0, 2), "{d:?}");
}

#[tokio::test]
async fn detects_foreign_objects() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    create_foreign_config_map(&server, "apex", "legacy", "kubectl-create", json!({"a": "b"})).await;
    let before = server.knobs().counters();
    let out = p
        .read(&[read_by_attrs("resources.legacy", "v1/ConfigMap", &config_map("apex", "legacy", json!({"a": "b"})))])
        .await;
    let d = delta(before, server.knobs().counters());
    assert_eq!((d.list, d.get), (1, 1), "{d:?}");
    let o = observed(&out[0]);
    assert_eq!(
        o.ownership,
        Ownership::Foreign {
            detail: "ConfigMap apex/legacy exists but is not managed by strata (no app.kubernetes.io/managed-by label)"
                .into()
        }
    );

    // The same project's other environment is foreign too.
    let staging = provider_with(&server, "staging", false);
    staging.create(&change("resources.shared", "v1/ConfigMap", config_map("apex", "shared", json!({})))).await.unwrap();
    let out =
        p.read(&[read_by_attrs("resources.shared", "v1/ConfigMap", &config_map("apex", "shared", json!({})))]).await;
    match &observed(&out[0]).ownership {
        Ownership::Foreign { detail } => {
            assert!(detail.contains("environment \"staging\""), "{detail}")
        }
        Ownership::Ours => panic!("another environment's object read as ours"),
    }
}

#[tokio::test]
async fn conflicts_with_another_applier_unless_forced() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let desired = change("resources.edge", "v1/ConfigMap", config_map("apex", "edge", json!({"key": "ours"})));
    p.create(&desired).await.unwrap();
    // Another declarative tool applies a field of strata's object (server-side apply, its own
    // manager, forced so it takes the field).
    let api = raw_api(&server, "apex", ("", "v1", "ConfigMap")).await;
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "edge", "namespace": "apex"},
        "data": {"key": "theirs"}});
    api.patch("edge", &PatchParams::apply("team-b").force(), &Patch::Apply(&theirs)).await.unwrap();
    let e = p.update(&desired).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Conflict);
    assert!(e.message.contains("conflict with \"team-b\""), "{}", e.message);
    assert!(e.message.contains(".data.key"), "{}", e.message);
    assert!(e.message.contains("providers.kubernetes.force_conflicts: true"), "{}", e.message);

    let forced = provider_with(&server, "prod", true);
    forced.update(&desired).await.unwrap();
    let out = p.read(&[read_by_id("resources.edge", "v1/ConfigMap", "apex/edge")]).await;
    let o = observed(&out[0]);
    assert_eq!(o.attrs["data"]["key"], "ours");
    assert_eq!(o.ownership, Ownership::Ours);
}

/// Item 9: a create never takes over an object strata did not create, whatever the plan said
/// (`apply --refresh=false` plans a create without reading) and whatever `force_conflicts` says.
#[tokio::test]
async fn create_refuses_an_existing_foreign_object() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    create_foreign_config_map(&server, "apex", "legacy", "kubectl-create", json!({"a": "b"})).await;
    let api = raw_api(&server, "apex", ("", "v1", "ConfigMap")).await;
    let before = api.get("legacy").await.unwrap();
    let desired = change("resources.legacy", "v1/ConfigMap", config_map("apex", "legacy", json!({"a": "mine"})));
    for p in [provider(&server), provider_with(&server, "prod", true)] {
        let e = p.create(&desired).await.unwrap_err();
        assert_eq!(e.class, ErrorClass::Conflict, "{e:?}");
        for part in
            ["ConfigMap apex/legacy", "not managed by strata", "\"kubectl-create\"", "strata import resources.legacy"]
        {
            assert!(e.message.contains(part), "{part:?} missing: {}", e.message);
        }
    }
    // Untouched: same data, no labels, same resourceVersion.
    let after = api.get("legacy").await.unwrap();
    assert_eq!(after.data["data"], json!({"a": "b"}));
    assert_eq!(after.metadata.labels, None);
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);

    // A crashed run's object (our marks, missing from state) is updated, not refused or duplicated.
    let mine = change("resources.mine", "v1/ConfigMap", config_map("apex", "mine", json!({"v": "1"})));
    let first = p.create(&mine).await.unwrap();
    let again = p
        .create(&change("resources.mine", "v1/ConfigMap", config_map("apex", "mine", json!({"v": "2"}))))
        .await
        .unwrap();
    assert_eq!(first.outputs["uid"], again.outputs["uid"]);
    assert_eq!(api.get("mine").await.unwrap().data["data"]["v"], "2");
}

/// Item 9: strata's marks changed or removed by someone: the object is no longer strata's to
/// update or delete.
#[tokio::test]
async fn relabelled_objects_are_neither_overwritten_nor_deleted() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let desired = change("resources.edge", "v1/ConfigMap", config_map("apex", "edge", json!({"k": "v"})));
    let applied = p.create(&desired).await.unwrap();
    let api = raw_api(&server, "apex", ("", "v1", "ConfigMap")).await;
    let relabel = PatchParams { field_manager: Some("kubectl-label".into()), ..PatchParams::default() };
    api.patch(
        "edge",
        &relabel,
        &Patch::Merge(json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "helm"}}})),
    )
    .await
    .unwrap();

    let e = p.update(&desired).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Conflict, "{e:?}");
    assert!(e.message.contains("managed by \"helm\""), "{}", e.message);
    assert!(e.message.contains("strata import resources.edge"), "{}", e.message);
    let live = api.get("edge").await.unwrap();
    assert_eq!(live.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"], "helm");

    let req = DeleteRequest {
        address: addr("resources.edge"),
        kind: "v1/ConfigMap".into(),
        remote_id: applied.remote_id.clone(),
        attrs: applied.attrs.clone(),
    };
    let e = p.delete(&req).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Conflict, "{e:?}");
    assert!(e.message.contains("will not delete"), "{}", e.message);
    assert!(api.get_opt("edge").await.unwrap().is_some(), "the object was deleted");

    // Another environment's marks: also not ours.
    api.patch(
        "edge",
        &relabel,
        &Patch::Merge(
            json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "strata", "strata.dev/env": "staging"}}}),
        ),
    )
    .await
    .unwrap();
    let e = p.delete(&req).await.unwrap_err();
    assert!(e.message.contains("environment \"staging\""), "{}", e.message);
    assert!(api.get_opt("edge").await.unwrap().is_some());
    // Marks restored: deleted.
    api.patch("edge", &relabel, &Patch::Merge(json!({"metadata": {"labels": {"strata.dev/env": "prod"}}})))
        .await
        .unwrap();
    p.delete(&req).await.unwrap();
    assert!(api.get_opt("edge").await.unwrap().is_none());
}

#[tokio::test]
async fn takes_back_fields_changed_by_updates() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let desired = change("resources.edge", "v1/ConfigMap", config_map("apex", "edge", json!({"key": "ours"})));
    p.create(&desired).await.unwrap();
    // An imperative edit (`kubectl edit` / `kubectl patch`: an Update) takes the field over.
    let api = raw_api(&server, "apex", ("", "v1", "ConfigMap")).await;
    let edit = PatchParams { field_manager: Some("kubectl-edit".into()), ..PatchParams::default() };
    api.patch("edge", &edit, &Patch::Merge(json!({"data": {"key": "edited"}}))).await.unwrap();
    // Applying the spec again restores it (drift), without force_conflicts.
    p.update(&desired).await.unwrap();
    let live = api.get("edge").await.unwrap();
    assert_eq!(live.data["data"]["key"], "ours");
    let managers: Vec<_> = live.metadata.managed_fields.unwrap_or_default().into_iter().map(|m| m.manager).collect();
    assert!(managers.iter().all(|m| m.as_deref() != Some("kubectl-edit")), "the field was taken back: {managers:?}");
}

#[tokio::test]
async fn delete_waits_until_gone() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let applied =
        p.create(&change("resources.edge", "v1/ConfigMap", config_map("apex", "edge", json!({})))).await.unwrap();
    let req = DeleteRequest {
        address: addr("resources.edge"),
        kind: "v1/ConfigMap".into(),
        remote_id: applied.remote_id.clone(),
        attrs: applied.attrs.clone(),
    };
    let before = server.knobs().counters();
    p.delete(&req).await.unwrap();
    let d = delta(before, server.knobs().counters());
    assert_eq!(d.delete, 1);
    assert!(d.get >= 1, "the delete polled for the object: {d:?}");
    let out = p.read(&[read_by_id("resources.edge", "v1/ConfigMap", "apex/edge")]).await;
    assert_eq!(out[0].as_ref().unwrap(), &None);
    // Deleting what is already gone succeeds.
    p.delete(&req).await.unwrap();

    // Transient errors of the reads around the delete (the ownership check before it, the wait
    // after it) are retried: 3 failed GETs, the check, the delete, the GET that sees it gone.
    let applied =
        p.create(&change("resources.edge", "v1/ConfigMap", config_map("apex", "edge", json!({})))).await.unwrap();
    server.knobs().add_fault(FaultRule::new(FaultKind::InternalError).verb(Verb::Get).times(3));
    let before = server.knobs().counters();
    p.delete(&DeleteRequest { remote_id: applied.remote_id, ..req }).await.unwrap();
    let d = delta(before, server.knobs().counters());
    assert_eq!((d.delete, d.get), (1, 5), "{d:?}");
}

#[tokio::test]
async fn crd_then_custom_resource_in_one_run() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "apex"}, "spec": {"size": 3}});
    // Plan time: the kind is not served yet, so the object does not exist.
    let out = p.read(&[read_by_attrs("resources.w1", "example.com/v1/Widget", &widget.clone())]).await;
    assert_eq!(out[0].as_ref().unwrap(), &None);

    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    p.create(&change("resources.widgets-crd", "apiextensions.k8s.io/v1/CustomResourceDefinition", crd)).await.unwrap();
    let applied = p.create(&change("resources.w1", "example.com/v1/Widget", widget.clone())).await.unwrap();
    assert_eq!(applied.remote_id, "apex/w1");
    let out = p.read(&[read_by_attrs("resources.w1", "example.com/v1/Widget", &widget)]).await;
    let o = observed(&out[0]);
    assert_eq!(o.ownership, Ownership::Ours);
    assert_eq!(o.attrs["spec"]["size"], 3);

    // A kind nobody defined is an error on write, with a hint.
    let e = p
        .create(&change(
            "resources.g",
            "example.com/v1/Gadget",
            json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": "apex"}}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Invalid);
    assert!(e.message.contains("CustomResourceDefinition installed"), "{}", e.message);
}

#[tokio::test]
async fn adopts_a_foreign_object() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    create_foreign_config_map(&server, "apex", "legacy", "kubectl-client-side-apply", json!({"a": "b"})).await;
    let resource = Resource {
        address: addr("resources.legacy"),
        provider: "kubernetes".into(),
        kind: "v1/ConfigMap".into(),
        attrs: config_map("apex", "legacy", json!({"a": "b"})),
        depends_on: vec![],
    };
    let applied = p.adopt(&resource).await.unwrap();
    assert_eq!(applied.remote_id, "apex/legacy");
    // What strata applied, without its marks: the identity only (the next plan diffs the spec
    // against the live object and reports nothing of it as removed).
    assert_eq!(
        applied.attrs,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "legacy", "namespace": "apex"}})
    );
    assert!(applied.outputs["uid"].is_string(), "{}", applied.outputs);
    let out = p.read(&[read_by_id("resources.legacy", "v1/ConfigMap", "apex/legacy")]).await;
    let o = observed(&out[0]);
    assert_eq!(o.ownership, Ownership::Ours);
    assert_eq!(o.attrs["data"]["a"], "b");
    assert_eq!(o.attrs["metadata"]["labels"]["strata.dev/env"], "prod");
    // Applying the same values after adoption does not conflict.
    p.update(&change("resources.legacy", "v1/ConfigMap", resource.attrs.clone())).await.unwrap();

    // Adopting something that does not exist is NotFound.
    let mut missing = resource.clone();
    missing.attrs = config_map("apex", "nothing", json!({}));
    let e = p.adopt(&missing).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound);
}

#[tokio::test]
async fn dry_run_apply_persists_nothing() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let c = change("resources.edge", "v1/ConfigMap", config_map("apex", "edge", json!({"k": "v"})));
    let would = p.dry_run_apply(&c).await.unwrap();
    assert_eq!(would["data"]["k"], "v");
    assert_eq!(would["metadata"]["labels"]["app.kubernetes.io/managed-by"], "strata");
    assert!(would["metadata"].get("managedFields").is_none());
    let out = p.read(&[read_by_id("resources.edge", "v1/ConfigMap", "apex/edge")]).await;
    assert_eq!(out[0].as_ref().unwrap(), &None);
}

#[tokio::test]
async fn classifies_server_faults() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let req = [read_by_id("resources.edge", "v1/ConfigMap", "apex/edge")];

    server.knobs().fail_next(1, FaultKind::TooManyRequests);
    let out = p.read(&req).await;
    let e = out[0].as_ref().unwrap_err();
    assert_eq!(e.class, ErrorClass::Retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(1)));

    server.knobs().fail_next(1, FaultKind::InternalError);
    let out = p.read(&req).await;
    assert_eq!(out[0].as_ref().unwrap_err().class, ErrorClass::Retryable);

    server.knobs().fail_next(1, FaultKind::Drop);
    let out = p.read(&req).await;
    let e = out[0].as_ref().unwrap_err();
    assert_eq!(e.class, ErrorClass::Retryable, "{e:?}");

    // Recovered: the object simply does not exist.
    let out = p.read(&req).await;
    assert_eq!(out[0].as_ref().unwrap(), &None);

    // The API server's validation errors are Invalid and keep its message.
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "Bad_Name", "namespace": "apex"}});
    let e = p.create(&change("resources.bad", "v1/ConfigMap", bad)).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Invalid, "{e:?}");
    assert!(e.message.contains("RFC 1123"), "{}", e.message);
}

#[tokio::test]
async fn works_from_a_kubeconfig() {
    let server = spawn_for_tests();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, server.kubeconfig()).unwrap();
    let config = KubernetesConfig {
        kubeconfig: Some(path.clone()),
        context: Some("test".into()),
        ..KubernetesConfig::default()
    };
    let p = KubernetesProvider::new(config, OwnershipMarks::new("apex", "prod")).unwrap();
    let applied = p
        .create(&change(
            "resources.cm",
            "v1/ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        ))
        .await
        .unwrap();
    // The context's namespace is the default.
    assert_eq!(applied.remote_id, "default/x");

    let wrong =
        KubernetesConfig { kubeconfig: Some(path), context: Some("prod".into()), ..KubernetesConfig::default() };
    let p = KubernetesProvider::new(wrong, OwnershipMarks::new("apex", "prod")).unwrap();
    let e = p.connect().await.unwrap_err();
    assert!(e.to_string().contains("available contexts: test"), "{e}");
}

/// The real kubectl, against `server`, with a private kubeconfig and HOME.
fn kubectl_json(server: &TestServer, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig()).unwrap();
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let out = std::process::Command::new(kubectl)
        .args(args)
        .args(["-o", "json"])
        .arg(format!("--cache-dir={}", dir.path().join("cache").display()))
        .env("KUBECONFIG", dir.path().join("kubeconfig"))
        .env("HOME", dir.path())
        .output()
        .expect("kubectl must be installed (or KUBECTL set): this test checks what it shows");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Item 10: a field-managed resource (`fields:` kind) sets fields of an object someone else
/// owns: no ownership marks, the other managers' fields stay, delete removes only its fields.
#[tokio::test]
async fn field_managed_resources_set_and_remove_only_their_fields() {
    let server = spawn_for_tests();
    let p = provider(&server);
    // The namespace exists before strata, with a label of its own.
    let config = kube::Config::new(server.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let namespaces: Api<DynamicObject> =
        Api::all_with(client, &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")));
    let ns: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "market", "labels": {"team": "market"}}}))
    .unwrap();
    namespaces
        .create(&PostParams { field_manager: Some("kubectl-create".into()), ..Default::default() }, &ns)
        .await
        .unwrap();

    let kind = "fields:v1/Namespace";
    let inject = |value: &str| {
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "market", "labels": {"linkerd.io/inject": value}}})
    };
    let address = "mesh.linkerd.inject-market";
    let applied = p.create(&change(address, kind, inject("enabled"))).await.unwrap();
    assert_eq!(applied.remote_id, "market");
    assert_eq!(applied.attrs, inject("enabled"), "what strata applied, no marks");
    let live = kubectl_json(&server, &["get", "namespace", "market"]);
    let labels = &live["metadata"]["labels"];
    assert_eq!(labels["linkerd.io/inject"], "enabled");
    assert_eq!(labels["team"], "market", "another manager's label survives");
    assert!(labels.get("app.kubernetes.io/managed-by").is_none(), "no ownership claimed: {labels}");
    assert!(live["metadata"]["annotations"].get("strata.dev/address").is_none());

    // Read: ours to diff (the engine compares only the attributes the spec sets).
    let desired = inject("enabled");
    let out = p.read(&[read_by_attrs(address, kind, &desired)]).await;
    let o = observed(&out[0]);
    assert_eq!(o.ownership, Ownership::Ours);
    assert_eq!(o.attrs["metadata"]["labels"]["linkerd.io/inject"], "enabled");
    assert_eq!(o.attrs["metadata"]["labels"]["team"], "market");

    // Update: a changed value lands; drift by an imperative edit is taken back.
    p.update(&change(address, kind, inject("disabled"))).await.unwrap();
    let edit = PatchParams { field_manager: Some("kubectl-edit".into()), ..PatchParams::default() };
    namespaces
        .patch("market", &edit, &Patch::Merge(json!({"metadata": {"labels": {"linkerd.io/inject": "edited"}}})))
        .await
        .unwrap();
    p.update(&change(address, kind, inject("enabled"))).await.unwrap();
    let live = namespaces.get("market").await.unwrap();
    assert_eq!(live.metadata.labels.as_ref().unwrap()["linkerd.io/inject"], "enabled");

    // Delete: the label goes, the namespace and its other label stay.
    let req = DeleteRequest {
        address: addr(address),
        kind: kind.into(),
        remote_id: "market".into(),
        attrs: inject("enabled"),
    };
    p.delete(&req).await.unwrap();
    let live = kubectl_json(&server, &["get", "namespace", "market", "--show-managed-fields"]);
    let labels = &live["metadata"]["labels"];
    assert!(labels.get("linkerd.io/inject").is_none(), "{labels}");
    assert_eq!(labels["team"], "market");
    let managers: Vec<&str> =
        live["metadata"]["managedFields"].as_array().unwrap().iter().filter_map(|m| m["manager"].as_str()).collect();
    assert!(!managers.iter().any(|m| m.starts_with("strata")), "{managers:?}");
    // Deleting again (the fields are already gone) is fine.
    p.delete(&req).await.unwrap();

    // The object must exist: a field-managed resource never creates it.
    let e = p
        .create(&change(
            "mesh.linkerd.inject-ghost",
            kind,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ghost", "labels": {"x": "y"}}}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e:?}");
    assert!(e.message.contains("Namespace ghost does not exist"), "{}", e.message);
    assert!(namespaces.get_opt("ghost").await.unwrap().is_none());
}

/// Item 11: a read after an apply reports what the spec says where the API server stored the
/// same value differently (a Secret's `stringData`, quantities), so a re-plan is a no-op.
#[tokio::test]
async fn read_reports_equal_values_in_the_spec_spelling() {
    let server = spawn_for_tests();
    let p = provider(&server);
    setup_namespace(&p, "apex").await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "db", "namespace": "apex"}, "stringData": {"password": "hunter2"}});
    p.create(&change("resources.db", "v1/Secret", secret.clone())).await.unwrap();
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "apex"},
        "spec": {"hard": {"requests.cpu": "0.5", "limits.cpu": 2, "requests.memory": "1024Mi", "pods": "10"}}});
    p.create(&change("resources.quota", "v1/ResourceQuota", quota.clone())).await.unwrap();
    let out = p
        .read(&[
            read_by_attrs("resources.db", "v1/Secret", &secret),
            read_by_attrs("resources.quota", "v1/ResourceQuota", &quota),
        ])
        .await;
    // The server stored `500m`, `2` and `1Gi`: reported as the spec spells them.
    let q = observed(&out[1]);
    assert_eq!(q.attrs["spec"]["hard"], quota["spec"]["hard"]);
    let s = observed(&out[0]);
    assert_eq!(s.attrs["stringData"], secret["stringData"]);
    assert!(s.attrs.get("data").is_none(), "{}", s.attrs);

    // A real change still shows.
    let changed = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "db", "namespace": "apex"}, "stringData": {"password": "changed"}});
    let out = p.read(&[read_by_attrs("resources.db", "v1/Secret", &changed)]).await;
    assert!(observed(&out[0]).attrs.get("stringData").is_none());
}
