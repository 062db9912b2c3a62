//! Just enough OpenAPI v3 for kubectl.
//!
//! kubectl validates manifests by default (`--validate=strict`). It first
//! asks the OpenAPI v3 document of the object's group version whether the
//! PATCH operation of that kind takes a `fieldValidation` query parameter;
//! if so it leaves validation to the server and needs no schema. Without
//! any OpenAPI it falls back to downloading the v2 schema and, finding
//! none, refuses to apply. So each group version gets a document listing,
//! per kind, a PATCH operation with that parameter — and no schemas.
//! `/openapi/v2` stays 404.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

fn group_versions(reg: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in reg.types() {
        for v in &t.versions {
            let gv = (t.group.clone(), v.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
    }
    out
}

fn types_in<'a>(reg: &'a Registry, group: &'a str, version: &'a str) -> impl Iterator<Item = &'a ResourceType> {
    reg.types().iter().filter(move |t| t.group == group && t.serves(version))
}

/// `/openapi/v3`: the index of per-group-version documents. The `hash`
/// changes whenever the kinds of a group version do, which is what makes
/// kubectl's cache refetch.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(reg) {
        let mut h = DefaultHasher::new();
        for t in types_in(reg, &group, &version) {
            (&t.kind, &t.plural, t.namespaced).hash(&mut h);
        }
        let path = gv_path(&group, &version);
        paths
            .insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", h.finish())}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/{api/v1 | apis/group/version}`.
pub fn group_version_doc(reg: &Registry, gv: &str) -> Option<Value> {
    let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return None,
    };
    if !reg.serves_group_version(&group, &version) {
        return None;
    }
    let mut paths = Map::new();
    for t in types_in(reg, &group, &version) {
        let ns = if t.namespaced { "namespaces/{namespace}/" } else { "" };
        let path = format!("/{}/{ns}{}/{{name}}", gv_path(&group, &version), t.plural);
        paths.insert(
            path,
            json!({
                "patch": {
                    "operationId": format!("patch{}", t.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": t.kind},
                    "parameters": [
                        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
                    ],
                    "responses": {"200": {"description": "OK"}},
                }
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
