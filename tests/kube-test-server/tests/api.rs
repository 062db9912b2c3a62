//! End-to-end tests of the HTTP API against an in-process server.

mod common;

use std::time::{Duration, Instant};

use common::Client;
use kube_test_server::{FaultKind, FaultRule, Verb, spawn_for_tests};
use serde_json::{Value, json};

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn discovery_documents() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());

    let v = c.get("/version").json();
    assert_eq!(v["gitVersion"], "v1.32.0");
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("32")));

    let api = c.get("/api");
    assert_eq!(api.header("content-type"), Some("application/json"));
    assert_eq!(api.json()["versions"], json!(["v1"]));

    let core = c.get("/api/v1").json();
    assert_eq!(core["kind"], "APIResourceList");
    let find = |list: &Value, name: &str| {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in {list}"))
    };
    assert_eq!(find(&core, "configmaps")["namespaced"], true);
    assert_eq!(find(&core, "configmaps")["shortNames"], json!(["cm"]));
    assert_eq!(find(&core, "namespaces")["namespaced"], false);
    for r in ["secrets", "services", "serviceaccounts", "resourcequotas", "limitranges", "services/status"] {
        find(&core, r);
    }

    let groups = c.get("/apis").json();
    let group_versions: Vec<String> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["preferredVersion"]["groupVersion"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        group_versions,
        [
            "apps/v1",
            "batch/v1",
            "rbac.authorization.k8s.io/v1",
            "autoscaling/v2",
            "policy/v1",
            "apiextensions.k8s.io/v1"
        ]
    );
    assert_eq!(find(&c.get("/apis/batch/v1").json(), "cronjobs")["shortNames"], json!(["cj"]));
    assert_eq!(find(&c.get("/apis/rbac.authorization.k8s.io/v1").json(), "rolebindings")["kind"], "RoleBinding");

    let apps = c.get("/apis/apps/v1").json();
    assert_eq!(apps["groupVersion"], "apps/v1");
    assert_eq!(find(&apps, "deployments")["kind"], "Deployment");
    assert_eq!(find(&c.get("/apis/autoscaling/v2").json(), "horizontalpodautoscalers")["shortNames"], json!(["hpa"]));
    assert_eq!(find(&c.get("/apis/policy/v1").json(), "poddisruptionbudgets")["kind"], "PodDisruptionBudget");
    assert_eq!(c.get("/apis/apps").json()["kind"], "APIGroup");

    assert_eq!(c.get("/apis/nope/v1").status, 404);
    assert_eq!(c.get("/openapi/v2").status, 404);
    let openapi = c.get("/openapi/v3").json();
    assert!(openapi["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
    assert_eq!(c.get("/openapi/v3/apis/apps/v1").status, 200);
}

#[test]
fn crud_and_errors() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());

    let created = c.post(CM, &cm("a", json!({"app": "x"})));
    assert_eq!(created.status, 201);
    let obj = created.json();
    let meta = &obj["metadata"];
    assert_eq!(meta["namespace"], "default");
    assert!(meta["uid"].as_str().unwrap().len() == 36);
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    let rv1: u64 = meta["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert_eq!(meta["managedFields"][0]["manager"], "kts-test", "user-agent product is the default manager");
    assert_eq!(meta["managedFields"][0]["operation"], "Update");

    let dup = c.post(CM, &cm("a", json!({})));
    assert_eq!(dup.status, 409);
    let status = dup.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "AlreadyExists");
    assert_eq!(status["message"], "configmaps \"a\" already exists");
    assert_eq!(status["details"], json!({"name": "a", "kind": "configmaps"}));
    assert_eq!(status["code"], 409);

    let got = c.get(&format!("{CM}/a")).json();
    assert_eq!(got["data"]["k"], "v");

    // PUT with a stale resourceVersion conflicts; with the current one it wins.
    let mut stale = got.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["k"] = json!("w");
    let conflict = c.put(&format!("{CM}/a"), &stale);
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json()["reason"], "Conflict");
    assert!(conflict.json()["message"].as_str().unwrap().contains("the object has been modified"));
    let mut fresh = got.clone();
    fresh["data"]["k"] = json!("w");
    let updated = c.put(&format!("{CM}/a"), &fresh);
    assert_eq!(updated.status, 200);
    let rv2: u64 = updated.json()["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    assert_eq!(updated.json()["metadata"]["uid"], meta["uid"]);
    // PUT without resourceVersion is unconditional.
    let mut unconditional = fresh.clone();
    unconditional["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    assert_eq!(c.put(&format!("{CM}/a"), &unconditional).status, 200);
    let mismatched = c.put(&format!("{CM}/b"), &fresh);
    assert_eq!(mismatched.status, 400);

    // Deletion with a DeleteOptions body; then 404s.
    let del = c.request(
        "DELETE",
        &format!("{CM}/a"),
        Some("application/json"),
        br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}"#,
    );
    assert_eq!(del.status, 200);
    assert_eq!(del.json()["status"], "Success");
    let gone = c.delete(&format!("{CM}/a"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["message"], "configmaps \"a\" not found");
    assert_eq!(gone.json()["reason"], "NotFound");
    assert_eq!(c.get(&format!("{CM}/a")).status, 404);

    // Namespaces must exist; they are created Active.
    let missing = c.post("/api/v1/namespaces/nope/configmaps", &cm("a", json!({})));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "namespaces \"nope\" not found");
    let ns =
        c.post("/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
    assert_eq!(ns.status, 201);
    assert_eq!(ns.json()["status"]["phase"], "Active");
    assert_eq!(c.post("/api/v1/namespaces/team/configmaps", &cm("a", json!({}))).status, 201);
    assert_eq!(c.get("/api/v1/namespaces/kube-system").status, 200);
    // Deleting a namespace takes its objects along.
    assert_eq!(c.delete("/api/v1/namespaces/team").status, 200);
    assert_eq!(c.get("/api/v1/namespaces/team/configmaps/a").status, 404);

    // Invalid names, generateName, wrong kind, unknown resource.
    let invalid = c.post(CM, &cm("Not_Valid", json!({})));
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.json()["reason"], "Invalid");
    assert!(
        invalid.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value")
    );
    let generated = c.post(CM, &json!({"metadata": {"generateName": "gen-"}}));
    assert_eq!(generated.status, 201);
    assert!(generated.json()["metadata"]["name"].as_str().unwrap().starts_with("gen-"));
    assert_eq!(c.post(CM, &json!({"kind": "Secret", "metadata": {"name": "s"}})).status, 400);
    assert_eq!(c.get("/api/v1/namespaces/default/widgets").status, 404);
    assert_eq!(c.get("/api/v1/namespaces/default/namespaces").status, 404);

    // Cluster-scoped kinds reject a namespace in the path.
    assert_eq!(c.get("/apis/apiextensions.k8s.io/v1/namespaces/default/customresourcedefinitions").status, 404);

    // The store can be reset between test cases.
    assert_eq!(c.request("POST", "/_test/reset-store", None, b"").status, 200);
    assert_eq!(names(&c.get(CM).json()), Vec::<String>::new());
    assert_eq!(
        names(&c.get("/api/v1/namespaces").json()),
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}

#[test]
fn patches_and_generation() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 7},
    });
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let created = c.post(path, &deploy).json();
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created.get("status").is_none(), "status is ignored on create: {created}");

    let p = format!("{path}/web");
    let labeled = c.merge_patch(&p, &json!({"metadata": {"labels": {"a": "b"}}})).json();
    assert_eq!(labeled["metadata"]["generation"], 1, "metadata changes keep the generation");
    let scaled = c.merge_patch(&p, &json!({"spec": {"replicas": 3}})).json();
    assert_eq!(scaled["metadata"]["generation"], 2);
    assert_eq!(scaled["spec"]["replicas"], 3);
    assert_eq!(scaled["metadata"]["labels"]["a"], "b");

    let jp = c.request(
        "PATCH",
        &p,
        Some("application/json-patch+json"),
        br#"[{"op":"replace","path":"/spec/replicas","value":5},{"op":"remove","path":"/metadata/labels/a"}]"#,
    );
    assert_eq!(jp.status, 200);
    assert_eq!(jp.json()["spec"]["replicas"], 5);
    assert!(jp.json()["metadata"]["labels"].get("a").is_none());
    let failed = c.request(
        "PATCH",
        &p,
        Some("application/json-patch+json"),
        br#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
    );
    assert_eq!(failed.status, 400);

    // A no-op patch changes nothing, not even the resourceVersion.
    let rv = jp.json()["metadata"]["resourceVersion"].clone();
    let noop = c.merge_patch(&p, &json!({"spec": {"replicas": 5}})).json();
    assert_eq!(noop["metadata"]["resourceVersion"], rv);

    // A merge patch carrying a stale resourceVersion conflicts.
    let stale = c.merge_patch(&p, &json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}));
    assert_eq!(stale.status, 409);

    // The status subresource changes only status.
    let st = c.merge_patch(&format!("{p}/status"), &json!({"status": {"replicas": 5}, "spec": {"replicas": 9}})).json();
    assert_eq!(st["status"]["replicas"], 5);
    assert_eq!(st["spec"]["replicas"], 5);

    // The scale subresource.
    let scale = c.get(&format!("{p}/scale")).json();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["status"]["selector"], "app=web");
    let rescaled = c.merge_patch(&format!("{p}/scale?fieldManager=hpa"), &json!({"spec": {"replicas": 8}}));
    assert_eq!(rescaled.json()["spec"]["replicas"], 8);
    assert_eq!(c.get(&p).json()["spec"]["replicas"], 8);

    assert_eq!(c.request("PATCH", &p, Some("text/plain"), b"x").status, 415);
    assert_eq!(c.merge_patch(&format!("{path}/nope"), &json!({})).status, 404);

    // Deployment validation.
    let mut bad = deploy.clone();
    bad["metadata"]["name"] = json!("bad");
    bad["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    assert_eq!(c.post(path, &bad).status, 422);
}

#[test]
fn label_and_field_selectors() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    c.post("/api/v1/namespaces", &json!({"metadata": {"name": "other"}}));
    for (ns, name, labels) in [
        ("default", "a", json!({"app": "x", "tier": "web"})),
        ("default", "b", json!({"app": "x", "tier": "db"})),
        ("default", "c", json!({"app": "y"})),
        ("default", "d", json!({})),
        ("other", "e", json!({"app": "x"})),
    ] {
        let r = c.post(&format!("/api/v1/namespaces/{ns}/configmaps"), &cm(name, labels));
        assert_eq!(r.status, 201);
    }
    let sel = |q: &str| names(&c.get(&format!("{CM}?labelSelector={q}")).json());
    assert_eq!(sel("app%3Dx"), ["a", "b"]);
    assert_eq!(sel("app%3D%3Dx"), ["a", "b"]);
    assert_eq!(sel("app!%3Dx"), ["c", "d"]);
    assert_eq!(sel("app%20in%20(x,y),tier!%3Ddb"), ["a", "c"]);
    assert_eq!(sel("tier%20notin%20(web)"), ["b", "c", "d"]);
    assert_eq!(sel("tier"), ["a", "b"]);
    assert_eq!(sel("!app"), ["d"]);
    assert_eq!(c.get(&format!("{CM}?labelSelector=a%20in%20x")).status, 400);

    let field = |q: &str| names(&c.get(&format!("/api/v1/configmaps?fieldSelector={q}")).json());
    assert_eq!(field("metadata.name%3Da"), ["a"]);
    assert_eq!(field("metadata.namespace%3Dother"), ["e"]);
    assert_eq!(field("metadata.namespace!%3Ddefault,metadata.name!%3Dx"), ["e"]);
    assert_eq!(c.get("/api/v1/configmaps?fieldSelector=data.k%3Dv").status, 400);

    // Cross-namespace list, sorted by namespace then name.
    let all = c.get("/api/v1/configmaps?labelSelector=app%3Dx").json();
    assert_eq!(names(&all), ["a", "b", "e"]);
    assert_eq!(all["kind"], "ConfigMapList");
    assert_eq!(all["items"][0]["kind"], "ConfigMap");
    assert_eq!(all["items"][0]["apiVersion"], "v1");
    assert!(all["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() > 0);

    // Delete collection by label.
    let deleted = c.delete(&format!("{CM}?labelSelector=app%3Dx"));
    assert_eq!(names(&deleted.json()), ["a", "b"]);
    assert_eq!(names(&c.get(CM).json()), ["c", "d"]);
}

#[test]
fn paging_with_continue_tokens() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    for i in 0..25 {
        c.post(CM, &cm(&format!("cm-{i:02}"), json!({"even": (i % 2 == 0).to_string()})));
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c.get(&format!("{CM}?limit=10&continue={token}")).json();
        pages += 1;
        seen.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(t) => {
                assert_eq!(page["metadata"]["remainingItemCount"], 25 - seen.len());
                token = t.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(seen, expected);

    // Paging composes with selectors.
    let first = c.get(&format!("{CM}?limit=5&labelSelector=even%3Dtrue")).json();
    assert_eq!(names(&first), ["cm-00", "cm-02", "cm-04", "cm-06", "cm-08"]);
    let cont = first["metadata"]["continue"].as_str().unwrap();
    let rest = c.get(&format!("{CM}?limit=50&labelSelector=even%3Dtrue&continue={cont}")).json();
    assert_eq!(names(&rest).len(), 8);
    assert!(rest["metadata"].get("continue").is_none());

    assert_eq!(c.get(&format!("{CM}?continue=zz")).status, 400);
}

fn apply_cm(c: &Client, manager: &str, extra_query: &str, yaml: &str) -> common::Resp {
    c.apply(&format!("{CM}/app?fieldManager={manager}{extra_query}"), yaml)
}

#[test]
fn server_side_apply() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());

    // Create through apply, YAML body.
    let v1 =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels: {team: a}\ndata:\n  one: '1'\n  two: '2'\n";
    let created = apply_cm(&c, "alice", "", v1);
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let obj = created.json();
    assert_eq!(obj["data"], json!({"one": "1", "two": "2"}));
    let mf = &obj["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "alice");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(mf["apiVersion"], "v1");
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert_eq!(
        mf["fieldsV1"],
        json!({"f:data": {"f:one": {}, "f:two": {}}, "f:metadata": {"f:labels": {"f:team": {}}}})
    );

    // Re-applying the same config is a no-op.
    let rv = obj["metadata"]["resourceVersion"].clone();
    assert_eq!(apply_cm(&c, "alice", "", v1).json()["metadata"]["resourceVersion"], rv);

    // Dropping a field from the config removes it from the object.
    let v2 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {one: '1'}\n";
    let applied = apply_cm(&c, "alice", "", v2).json();
    assert_eq!(applied["data"], json!({"one": "1"}));
    assert!(applied["metadata"].get("labels").is_none(), "{applied}");

    // A field co-owned by another applier survives when one stops applying it.
    apply_cm(
        &c,
        "bob",
        "",
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"app\"},\"data\":{\"one\":\"1\"}}",
    );
    let applied =
        apply_cm(&c, "alice", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {three: '3'}\n")
            .json();
    assert_eq!(applied["data"], json!({"one": "1", "three": "3"}));

    // An update by another manager takes ownership; applying a different
    // value then conflicts, exactly as the apiserver words it.
    let edited = c.merge_patch(&format!("{CM}/app?fieldManager=kubectl-edit"), &json!({"data": {"three": "edited"}}));
    assert_eq!(edited.status, 200);
    let conflict =
        apply_cm(&c, "alice", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {three: '3'}\n");
    assert_eq!(conflict.status, 409);
    let status = conflict.json();
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["message"], "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.three");
    assert_eq!(status["details"]["causes"][0]["field"], ".data.three");
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldManagerConflict");

    // Applying the same value as the current one is no conflict (shared).
    let same =
        apply_cm(&c, "carol", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {three: edited}\n");
    assert_eq!(same.status, 200);

    // dryRun computes the forced result but stores nothing.
    let dry = apply_cm(
        &c,
        "alice",
        "&force=true&dryRun=All",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {three: '3'}\n",
    );
    assert_eq!(dry.status, 200);
    assert_eq!(dry.json()["data"]["three"], "3");
    assert_eq!(c.get(&format!("{CM}/app")).json()["data"]["three"], "edited");

    // force=true moves ownership to the applier.
    let forced = apply_cm(
        &c,
        "alice",
        "&force=true",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {three: '3'}\n",
    );
    assert_eq!(forced.status, 200);
    let obj = forced.json();
    assert_eq!(obj["data"]["three"], "3");
    let managers: Vec<(String, String)> = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["manager"].as_str().unwrap().into(), e["operation"].as_str().unwrap().into()))
        .collect();
    assert!(!managers.iter().any(|(m, _)| m == "kubectl-edit"), "{managers:?}");
    assert!(!managers.iter().any(|(m, _)| m == "carol"), "carol lost .data.three too: {managers:?}");

    // Conflicts with several fields and managers.
    // (x's update takes .data.one from bob, who then applies .data.four.)
    c.merge_patch(&format!("{CM}/app?fieldManager=x"), &json!({"data": {"one": "X"}}));
    apply_cm(&c, "bob", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {four: b}\n");
    let many = apply_cm(
        &c,
        "alice",
        "",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {one: '1', three: '3', four: a}\n",
    );
    assert_eq!(many.status, 409);
    assert_eq!(
        many.json()["message"],
        "Apply failed with 2 conflicts: conflicts with \"bob\":\n- .data.four\nconflicts with \"x\" using v1:\n- .data.one"
    );

    // Apply errors: missing fieldManager, wrong kind, name mismatch,
    // missing namespace.
    assert_eq!(c.apply(&format!("{CM}/app"), v1).status, 400);
    assert_eq!(apply_cm(&c, "alice", "", "apiVersion: v1\nkind: Secret\nmetadata: {name: app}\n").status, 400);
    assert_eq!(apply_cm(&c, "alice", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n").status, 400);
    let no_ns = c.apply("/api/v1/namespaces/ghost/configmaps/app?fieldManager=m", v1);
    assert_eq!(no_ns.status, 404);
    assert_eq!(no_ns.json()["message"], "namespaces \"ghost\" not found");

    // A resourceVersion in the config is a precondition.
    let stale =
        apply_cm(&c, "alice", "", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, resourceVersion: '1'}\n");
    assert_eq!(stale.status, 409);

    // Dry-run creation stores nothing.
    let dry_create = c.apply(
        &format!("{CM}/dry?fieldManager=m&dryRun=All"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\n",
    );
    assert_eq!(dry_create.status, 201);
    assert_eq!(c.get(&format!("{CM}/dry")).status, 404);
}

#[test]
fn service_and_secret_defaults() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let svc_path = "/api/v1/namespaces/default/services/web?fieldManager=m";
    let svc =
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n";
    let obj = c.apply(svc_path, svc).json();
    let ip = obj["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.96."), "{ip}");
    assert_eq!(obj["spec"]["type"], "ClusterIP");
    assert_eq!(obj["spec"]["ports"][0]["protocol"], "TCP");
    // Defaults are owned by nobody, and re-applying is a no-op.
    assert_eq!(
        obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"],
        // Ports are a list merged by (port, protocol); the defaulted protocol and targetPort
        // are nobody's.
        json!({"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {"f:port": {}}}, "f:selector": {"f:app": {}}})
    );
    let again = c.apply(svc_path, svc).json();
    assert_eq!(again["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"]);
    assert_eq!(again["spec"]["clusterIP"], ip.as_str());

    let secret = c
        .post(
            "/api/v1/namespaces/default/secrets",
            &json!({"metadata": {"name": "s"}, "stringData": {"pw": "hello world"}}),
        )
        .json();
    assert_eq!(secret["data"]["pw"], "aGVsbG8gd29ybGQ=");
    assert_eq!(secret["type"], "Opaque");
    assert!(secret.get("stringData").is_none());
}

fn crd(versions: Value) -> String {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": versions,
        }
    })
    .to_string()
}

#[test]
fn crds_make_kinds_servable() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com?fieldManager=test";
    assert_eq!(c.get("/apis/example.com/v1/namespaces/default/widgets").status, 404);

    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    let versions = json!([
        {"name": "v1", "served": true, "storage": true, "schema": schema, "subresources": {"status": {}}},
        {"name": "v1beta1", "served": true, "storage": false, "schema": schema},
        {"name": "v1alpha1", "served": false, "storage": false, "schema": schema},
    ]);
    let created = c.apply(crd_path, &crd(versions));
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let status = &created.json()["status"];
    assert_eq!(status["acceptedNames"]["kind"], "Widget");
    assert_eq!(status["conditions"][1]["type"], "Established");
    assert_eq!(status["storedVersions"], json!(["v1"]));

    // Discoverable, in version priority order; unserved versions absent.
    let group = c.get("/apis").json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "example.com")
        .cloned()
        .expect("group discovered");
    assert_eq!(group["preferredVersion"]["version"], "v1");
    assert_eq!(group["versions"].as_array().unwrap().len(), 2);
    let resources = c.get("/apis/example.com/v1").json();
    assert_eq!(resources["resources"][0]["name"], "widgets");
    assert_eq!(resources["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(resources["resources"][1]["name"], "widgets/status");
    assert_eq!(c.get("/apis/example.com/v1alpha1").status, 404);

    // Custom resources: CRUD, version relabeling, status subresource.
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let w = c.post(
        widgets,
        &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}),
    );
    assert_eq!(w.status, 201);
    assert_eq!(w.json()["metadata"]["generation"], 1);
    let beta = c.get("/apis/example.com/v1beta1/namespaces/default/widgets/w1").json();
    assert_eq!(beta["apiVersion"], "example.com/v1beta1");
    assert_eq!(beta["spec"]["size"], 3);
    let list = c.get(widgets).json();
    assert_eq!(list["kind"], "WidgetList");
    assert_eq!(list["items"][0]["kind"], "Widget");
    assert_eq!(c.get("/apis/example.com/v1/widgets").json()["items"].as_array().unwrap().len(), 1);
    let st = c.merge_patch(&format!("{widgets}/w1/status"), &json!({"status": {"ready": true}})).json();
    assert_eq!(st["status"]["ready"], true);
    assert_eq!(st["metadata"]["generation"], 1);
    assert_eq!(
        c.post(widgets, &json!({"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"name": "w2"}})).status,
        400
    );

    // Invalid CRDs are rejected.
    let bad = c.post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &json!({
            "metadata": {"name": "wrong.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "things", "kind": "Thing"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}
        }),
    );
    assert_eq!(bad.status, 422);

    // Deleting the CRD removes the kind and its objects.
    assert_eq!(c.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").status, 200);
    assert_eq!(c.get(widgets).status, 404);
    assert_eq!(c.get("/apis/example.com/v1").status, 404);
    assert!(!c.get("/apis").json()["groups"].as_array().unwrap().iter().any(|g| g["name"] == "example.com"));
    // Recreating it starts empty.
    let versions = json!([{"name": "v1", "served": true, "storage": true}]);
    assert_eq!(c.apply(crd_path, &crd(versions)).status, 201);
    assert_eq!(c.get(widgets).json()["items"], json!([]));
}

#[test]
fn fault_injection_and_counters() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let knobs = server.knobs();

    // 429 with Retry-After, for the next request only.
    knobs.fail_next(1, FaultKind::TooManyRequests);
    let r = c.get(CM);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["reason"], "TooManyRequests");
    assert_eq!(c.get(CM).status, 200);

    // 500, filtered by verb and path.
    knobs.add_fault(FaultRule::new(FaultKind::InternalError).times(2).verb(Verb::Create).path_contains("secrets"));
    assert_eq!(c.post(CM, &cm("a", json!({}))).status, 201);
    let s = json!({"metadata": {"name": "s"}});
    let failed = c.post("/api/v1/namespaces/default/secrets", &s);
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["reason"], "InternalError");
    assert_eq!(c.post("/api/v1/namespaces/default/secrets", &s).status, 500);
    assert_eq!(c.post("/api/v1/namespaces/default/secrets", &s).status, 201);

    // A dropped connection gets no response at all.
    knobs.fail_next(1, FaultKind::Drop);
    let dropped = c.try_request("GET", CM, None, b"");
    assert!(dropped.is_err(), "expected a dropped connection, got {dropped:?}");
    assert_eq!(c.get(CM).status, 200);

    // Probability 1 fails everything until cleared.
    knobs.add_fault(FaultRule::new(FaultKind::InternalError).probability(1.0));
    assert_eq!(c.get(CM).status, 500);
    assert_eq!(c.get("/version").status, 500);
    knobs.clear_faults();
    assert_eq!(c.get(CM).status, 200);

    // Counters per verb; faulted requests count too; /_test/ does not.
    knobs.reset_counters();
    c.get("/api");
    c.get(CM);
    c.get(&format!("{CM}/a"));
    c.post(CM, &cm("b", json!({})));
    c.put(&format!("{CM}/b"), &cm("b", json!({"x": "y"})));
    c.merge_patch(&format!("{CM}/b"), &json!({}));
    c.apply(&format!("{CM}/b?fieldManager=m"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
    c.delete(&format!("{CM}/b"));
    let counters = knobs.counters();
    assert_eq!(
        (
            counters.discovery,
            counters.list,
            counters.get,
            counters.create,
            counters.update,
            counters.patch,
            counters.apply,
            counters.delete
        ),
        (1, 1, 1, 1, 1, 1, 1, 1)
    );
    let over_http = c.get("/_test/counters").json();
    assert_eq!(over_http["apply"], 1);
    assert_eq!(over_http["discovery"], 1);
    assert_eq!(c.request("POST", "/_test/reset-counters", None, b"").status, 200);
    assert_eq!(knobs.counters().total(), 0);

    // The same knobs over HTTP.
    let set = c.request(
        "POST",
        "/_test/faults",
        Some("application/json"),
        br#"{"kind":"429","count":1,"verb":"get","path":"/a"}"#,
    );
    assert_eq!(set.json()["faults"][0]["kind"], "429");
    assert_eq!(c.get(CM).status, 200);
    assert_eq!(c.get(&format!("{CM}/a")).status, 429);
    assert_eq!(c.get(&format!("{CM}/a")).status, 200);
    c.request("POST", "/_test/faults", Some("application/json"), br#"{"kind":"drop"}"#);
    assert!(c.try_request("GET", CM, None, b"").is_err());
    assert_eq!(c.request("DELETE", "/_test/faults", None, b"").json()["faults"], json!([]));
    assert_eq!(c.request("POST", "/_test/faults", Some("application/json"), br#"{"kind":"418"}"#).status, 422);

    c.request("POST", "/_test/latency", Some("application/json"), br#"{"ms":150}"#);
    assert_eq!(c.get("/_test/knobs").json()["latency_ms"], 150);
    let start = Instant::now();
    c.get(CM);
    assert!(start.elapsed() >= Duration::from_millis(150));
    let start = Instant::now();
    c.get("/_test/counters");
    assert!(start.elapsed() < Duration::from_millis(150), "/_test/ is not slowed down");
    c.request("POST", "/_test/reset", None, b"");
    assert_eq!(knobs.latency(), Duration::ZERO);
}

#[test]
fn watch_streams_changes() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    c.post(CM, &cm("before", json!({"app": "x"})));
    let list_rv = c.get(CM).json()["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    let mut all = c.watch(&format!("{CM}?watch=true&timeoutSeconds=5"));
    let mut selected =
        c.watch(&format!("{CM}?watch=1&labelSelector=app%3Dx&resourceVersion={list_rv}&timeoutSeconds=5"));
    let first = all.next_event().unwrap();
    assert_eq!((first["type"].as_str(), first["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("before")));

    c.post(CM, &cm("w", json!({})));
    c.merge_patch(&format!("{CM}/w"), &json!({"metadata": {"labels": {"app": "x"}}}));
    c.merge_patch(&format!("{CM}/w"), &json!({"metadata": {"labels": {"app": "y"}}}));
    c.delete(&format!("{CM}/w"));

    let kinds = |w: &mut common::Watch, n: usize| -> Vec<String> {
        (0..n).map(|_| w.next_event().expect("event")["type"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(kinds(&mut all, 4), ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]);
    // The selecting watch sees the object enter and leave its selection.
    assert_eq!(kinds(&mut selected, 2), ["ADDED", "DELETED"]);

    // Resuming from an old resourceVersion replays history.
    let mut replay = c.watch(&format!("{CM}?watch=true&resourceVersion={list_rv}&timeoutSeconds=1"));
    assert_eq!(kinds(&mut replay, 4), ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]);
    assert!(replay.next_event().is_none(), "the watch ends at its timeout");
}

#[test]
fn thousands_of_objects_and_concurrent_clients() {
    let server = spawn_for_tests();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let url = server.url().to_string();
            s.spawn(move || {
                let c = Client::new(&url);
                for i in 0..250 {
                    let r = c.post(CM, &cm(&format!("t{t}-{i:03}"), json!({"thread": t.to_string()})));
                    assert_eq!(r.status, 201);
                }
            });
        }
    });
    let c = Client::new(server.url());
    let all = c.get(CM).json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2000);
    let one_thread = c.get(&format!("{CM}?labelSelector=thread%3D3")).json();
    assert_eq!(one_thread["items"].as_array().unwrap().len(), 250);
    let rvs: std::collections::HashSet<&str> =
        all["items"].as_array().unwrap().iter().map(|i| i["metadata"]["resourceVersion"].as_str().unwrap()).collect();
    assert_eq!(rvs.len(), 2000, "resourceVersions are unique");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
}

#[test]
fn binary_prints_its_address_and_honours_flags() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kube-test-server"))
        .args(["--addr", "127.0.0.1:0", "--fail-kind", "500", "--fail-next", "1", "--fail-verb", "list"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    let c = Client::new(&url);
    assert_eq!(c.get("/version").status, 200);
    assert_eq!(c.get(CM).status, 500);
    assert_eq!(c.get(CM).status, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn body(r: &common::Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str, app: &str, cpu: Value, memory: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "app", "image": "app:1.10",
                    "resources": {"limits": {"cpu": cpu, "memory": memory}, "requests": {"cpu": "0.25"}}}]}}}})
}

#[test]
fn quantities_are_stored_canonically() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let created = c.post(DEPLOY, &deployment("web", "web", json!(0.5), json!("1024Mi")));
    assert_eq!(created.status, 201, "{}", body(&created));
    let res = &created.json()["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"], json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(res["requests"]["cpu"], "250m");
    assert_eq!(created.json()["spec"]["template"]["spec"]["containers"][0]["image"], "app:1.10");

    // Applying the same amounts in another spelling is a no-op, not a conflict.
    let rv = created.json()["metadata"]["resourceVersion"].clone();
    let again = c.apply(
        &format!("{DEPLOY}/web?fieldManager=kubectl-create"),
        &deployment("web", "web", json!("500m"), json!("1Gi")).to_string(),
    );
    assert_eq!(again.status, 200, "{}", body(&again));
    let res = &again.json()["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"], json!({"cpu": "500m", "memory": "1Gi"}));
    // Equal by value is not equal: 1073741824 (decimal SI) is stored as written, a different
    // value from `1Gi` for field ownership, as on a real apiserver; strata forces it.
    let applied = c.apply(
        &format!("{DEPLOY}/web?fieldManager=strata&force=true"),
        &deployment("web", "web", json!("0.5"), json!(1073741824)).to_string(),
    );
    assert_eq!(applied.status, 200, "{}", body(&applied));
    // 1073741824 has no suffix: decimal SI, which keeps it as written.
    let res = &applied.json()["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"], json!({"cpu": "500m", "memory": "1073741824"}));
    assert_ne!(applied.json()["metadata"]["resourceVersion"], rv);

    // ResourceQuota spec.hard; a value that is no quantity is refused.
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
        "spec": {"hard": {"requests.cpu": "1000m", "requests.memory": "0.5Gi", "pods": "10"}}});
    let q = c.post("/api/v1/namespaces/default/resourcequotas", &quota);
    assert_eq!(q.json()["spec"]["hard"], json!({"requests.cpu": "1", "requests.memory": "512Mi", "pods": "10"}));
    let bad = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "bad"},
        "spec": {"hard": {"requests.cpu": "lots"}}});
    let r = c.post("/api/v1/namespaces/default/resourcequotas", &bad);
    assert_eq!(r.status, 400, "{}", body(&r));
    assert!(body(&r).contains("quantities must match the regular expression"), "{}", body(&r));
}

#[test]
fn immutable_fields_are_refused() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    // Service spec.clusterIP.
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "api"}}});
    let path = "/api/v1/namespaces/default/services";
    let ip = c.post(path, &svc).json()["spec"]["clusterIP"].as_str().unwrap().to_string();
    let other = if ip == "10.96.0.200" { "10.96.0.201" } else { "10.96.0.200" };
    let r = c.merge_patch(&format!("{path}/api"), &json!({"spec": {"clusterIP": other}}));
    assert_eq!(r.status, 422, "{}", body(&r));
    let status = r.json();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        format!("Service \"api\" is invalid: spec.clusterIP: Invalid value: \"{other}\": field is immutable")
    );
    assert_eq!(status["details"]["causes"][0]["field"], "spec.clusterIP");
    // Omitting it keeps the allocated one (no error).
    let r = c.apply(&format!("{path}/api?fieldManager=m&force=true"), &svc.to_string());
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(r.json()["spec"]["clusterIP"], ip);

    // Deployment spec.selector.
    c.post(DEPLOY, &deployment("web", "web", json!("1"), json!("1Gi")));
    let r = c.put(&format!("{DEPLOY}/web"), &deployment("web", "other", json!("1"), json!("1Gi")));
    assert_eq!(r.status, 422, "{}", body(&r));
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.contains("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}"),
        "{m}"
    );
    assert!(m.ends_with("field is immutable"), "{m}");

    // ConfigMap and Secret with immutable: true.
    let immutable = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "frozen"},
        "data": {"k": "v"}, "immutable": true});
    assert_eq!(c.post(CM, &immutable).status, 201);
    let r = c.merge_patch(&format!("{CM}/frozen"), &json!({"data": {"k": "changed"}}));
    assert_eq!(r.status, 422, "{}", body(&r));
    assert_eq!(
        r.json()["message"],
        "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    let r = c.merge_patch(&format!("{CM}/frozen"), &json!({"immutable": false}));
    assert_eq!(r.status, 422, "{}", body(&r));
    // Metadata may still change.
    let r = c.merge_patch(&format!("{CM}/frozen"), &json!({"metadata": {"labels": {"a": "b"}}}));
    assert_eq!(r.status, 200, "{}", body(&r));
    let secrets = "/api/v1/namespaces/default/secrets";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"k": "v"}, "immutable": true});
    assert_eq!(c.post(secrets, &secret).status, 201);
    let r = c.apply(
        &format!("{secrets}/s?fieldManager=m&force=true"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "w"}}).to_string(),
    );
    assert_eq!(r.status, 422, "{}", body(&r));
    assert!(body(&r).contains("data: Forbidden: field is immutable when `immutable` is set"), "{}", body(&r));
}

#[test]
fn finalizers_hold_deletion() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let mut obj = cm("held", json!({}));
    obj["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    assert_eq!(c.post(CM, &obj).status, 201);
    let mut w = c.watch(&format!("{CM}?watch=true&fieldSelector=metadata.name%3Dheld"));
    assert_eq!(w.next_event().unwrap()["type"], "ADDED");

    let r = c.delete(&format!("{CM}/held"));
    assert_eq!(r.status, 200, "{}", body(&r));
    let marked = r.json();
    assert_eq!(marked["kind"], "ConfigMap", "the object, not a Status: {marked}");
    let ts = marked["metadata"]["deletionTimestamp"].clone();
    assert!(ts.is_string(), "{marked}");
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(w.next_event().unwrap()["type"], "MODIFIED");
    // Still there; deleting again changes nothing; no new finalizers now.
    let live = c.get(&format!("{CM}/held")).json();
    assert_eq!(live["metadata"]["deletionTimestamp"], ts);
    assert_eq!(
        c.delete(&format!("{CM}/held")).json()["metadata"]["resourceVersion"],
        live["metadata"]["resourceVersion"]
    );
    let r = c.merge_patch(
        &format!("{CM}/held"),
        &json!({"metadata": {"finalizers": ["example.com/cleanup", "example.com/more"]}}),
    );
    assert_eq!(r.status, 422, "{}", body(&r));
    assert!(body(&r).contains("no new finalizers can be added if the object is being deleted"), "{}", body(&r));
    // A client cannot clear the timestamp; other writes keep it.
    let r = c.merge_patch(&format!("{CM}/held"), &json!({"metadata": {"deletionTimestamp": null}, "data": {"k": "w"}}));
    assert_eq!(r.json()["metadata"]["deletionTimestamp"], ts);

    // Removing the last finalizer ends the deletion.
    let r = c.merge_patch(&format!("{CM}/held"), &json!({"metadata": {"finalizers": null}}));
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(c.get(&format!("{CM}/held")).status, 404);
    let types: Vec<Value> = (0..3).filter_map(|_| w.next_event()).map(|e| e["type"].clone()).collect();
    assert_eq!(types.last(), Some(&json!("DELETED")), "{types:?}");
}

#[test]
fn keyed_lists_merge_per_entry() {
    let server = spawn_for_tests();
    let c = Client::new(server.url());
    let path = format!("{DEPLOY}/web");
    let ours = deployment("web", "web", json!("1"), json!("1Gi"));
    assert_eq!(c.apply(&format!("{path}?fieldManager=strata"), &ours.to_string()).status, 201);
    // Another manager (a mesh injector, say) adds a container and an env var to ours.
    let theirs = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "MESH", "value": "on"}]},
            {"name": "proxy", "image": "proxy:2"}]}}}});
    let r = c.apply(&format!("{path}?fieldManager=injector"), &theirs.to_string());
    assert_eq!(r.status, 200, "{}", body(&r));
    let containers = r.json()["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(containers.as_array().unwrap().len(), 2, "{containers}");
    assert_eq!(containers[0]["image"], "app:1.10");
    assert_eq!(containers[0]["env"], json!([{"name": "MESH", "value": "on"}]));
    let fields = r.json()["metadata"]["managedFields"].to_string();
    assert!(fields.contains(r#"k:{\"name\":\"proxy\"}"#), "{fields}");

    // Re-applying strata's own intent leaves the other manager's entries alone.
    let mut changed = ours.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("app:1.11");
    let r = c.apply(&format!("{path}?fieldManager=strata"), &changed.to_string());
    assert_eq!(r.status, 200, "{}", body(&r));
    let containers = r.json()["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(containers[0]["image"], "app:1.11");
    assert_eq!(containers[0]["env"][0]["name"], "MESH");
    assert_eq!(containers[1]["name"], "proxy");

    // The same field of the same entry with another value conflicts, named per entry.
    let clash = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:1"}]}}}});
    let r = c.apply(&format!("{path}?fieldManager=injector"), &clash.to_string());
    assert_eq!(r.status, 409, "{}", body(&r));
    assert_eq!(
        r.json()["message"],
        "Apply failed with 1 conflict: conflict with \"strata\": .spec.template.spec.containers[name=\"app\"].image"
    );

    // The injector gives up its entries: its container goes, ours stays with all its fields.
    let none = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let r = c.apply(&format!("{path}?fieldManager=injector"), &none.to_string());
    let containers = r.json()["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(containers.as_array().unwrap().len(), 1, "{containers}");
    assert_eq!(containers[0]["name"], "app");
    assert_eq!(containers[0]["image"], "app:1.11");
    assert!(containers[0].get("env").is_none(), "{containers}");
}
