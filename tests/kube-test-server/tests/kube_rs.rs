//! The server through kube-rs, the client strata's Kubernetes provider uses.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Config};
use kube_test_server::{FaultKind, spawn_for_tests};
use serde_json::json;

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "x"}},
        "data": {"key": value},
    }))
    .unwrap()
}

#[tokio::test]
async fn kube_rs_round_trip() {
    let server = spawn_for_tests();
    let client = Client::try_from(Config::new(server.url().parse().unwrap())).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // Server-side apply creates, records ownership, and conflicts.
    let applied = cms.patch("a", &PatchParams::apply("strata"), &Patch::Apply(config_map("a", "1"))).await.unwrap();
    let managed = applied.metadata.managed_fields.unwrap();
    assert_eq!(managed[0].manager.as_deref(), Some("strata"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    let edit = PatchParams { field_manager: Some("editor".into()), ..PatchParams::default() };
    cms.patch("a", &edit, &Patch::Merge(json!({"data": {"key": "edited"}}))).await.unwrap();
    let err = cms.patch("a", &PatchParams::apply("strata"), &Patch::Apply(config_map("a", "1"))).await.unwrap_err();
    let kube::Error::Api(status) = err else { panic!("expected an API error, got {err:?}") };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(status.message, "Apply failed with 1 conflict: conflict with \"editor\" using v1: .data.key");
    let forced =
        cms.patch("a", &PatchParams::apply("strata").force(), &Patch::Apply(config_map("a", "1"))).await.unwrap();
    assert_eq!(forced.data.unwrap()["key"], "1");

    // Create, list with selectors and paging, metadata-only views.
    for i in 0..5 {
        cms.create(&PostParams::default(), &config_map(&format!("p{i}"), "v")).await.unwrap();
    }
    let first = cms.list(&ListParams::default().labels("app=x").limit(4)).await.unwrap();
    assert_eq!(first.items.len(), 4);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let rest = cms.list(&ListParams::default().labels("app=x").limit(4).continue_token(&token)).await.unwrap();
    assert_eq!(rest.items.len(), 2);
    let meta = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(meta.items.len(), 6);
    assert_eq!(cms.get_metadata("p0").await.unwrap().metadata.name.as_deref(), Some("p0"));

    // Errors and deletion.
    let missing = cms.get("nope").await.unwrap_err();
    assert!(matches!(missing, kube::Error::Api(ref s) if s.code == 404), "{missing:?}");
    assert!(cms.get_opt("nope").await.unwrap().is_none());
    assert!(cms.delete("p0", &DeleteParams::background()).await.unwrap().is_right());
    let dup = cms.create(&PostParams::default(), &config_map("a", "x")).await.unwrap_err();
    assert!(matches!(dup, kube::Error::Api(ref s) if s.reason == "AlreadyExists"), "{dup:?}");

    // Typed cluster-scoped and apps kinds.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    let ns = namespaces.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "team");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }))
    .unwrap();
    let d = deployments.patch("web", &PatchParams::apply("strata"), &Patch::Apply(&d)).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));

    // Injected faults surface as the errors a real server would produce.
    // (kube-rs may itself retry a 429 after its Retry-After.)
    server.knobs().fail_next(1, FaultKind::TooManyRequests);
    let before = server.knobs().counters().get;
    match cms.get("a").await {
        Ok(_) => assert_eq!(server.knobs().counters().get - before, 2, "retried once"),
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 429),
        Err(e) => panic!("expected a 429, got {e:?}"),
    }
    server.knobs().fail_next(1, FaultKind::Drop);
    assert!(cms.get("a").await.is_err());
    assert!(cms.get("a").await.is_ok());
}
