//! URL structure of the Kubernetes API, shared by the request dispatcher and
//! the fault/counter layer (which must classify a request before it runs).

use axum::http::Method;

use crate::faults::Verb;

/// A path into a resource collection or object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Version,
    OpenApi,
    /// `/api`
    CoreVersions,
    /// `/apis`
    GroupList,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    ResourceList {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
    Test,
    Unknown,
}

pub fn route(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["openapi", ..] => Route::OpenApi,
        ["_test", ..] => Route::Test,
        ["api"] => Route::CoreVersions,
        ["api", v] => Route::ResourceList { group: String::new(), version: v.to_string() },
        ["api", v, rest @ ..] => resource("", v, rest),
        ["apis"] => Route::GroupList,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::ResourceList { group: g.to_string(), version: v.to_string() },
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    // `/namespaces/{ns}/{plural}…` is namespaced, except
    // `/namespaces/{name}/status|finalize`, a Namespace's own subresource.
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !(tail.is_empty() && matches!(*plural, "status" | "finalize")) => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Route::Unknown,
    };
    Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural: plural.to_string(),
        name,
        subresource,
    })
}

pub const APPLY_PATCH_TYPE: &str = "application/apply-patch+yaml";

/// Classifies a request for counters and fault filters.
pub fn classify(method: &Method, route: &Route, query: &str, content_type: &str) -> Verb {
    match route {
        Route::Version
        | Route::OpenApi
        | Route::CoreVersions
        | Route::GroupList
        | Route::Group(_)
        | Route::ResourceList { .. } => Verb::Discovery,
        Route::Test | Route::Unknown => Verb::Other,
        Route::Resource(p) => match *method {
            Method::GET if p.name.is_some() => Verb::Get,
            Method::GET if is_watch(query) => Verb::Watch,
            Method::GET => Verb::List,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH if content_type.starts_with(APPLY_PATCH_TYPE) => Verb::Apply,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            _ => Verb::Other,
        },
    }
}

fn is_watch(query: &str) -> bool {
    query.split('&').any(|kv| matches!(kv, "watch=true" | "watch=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(group: &str, ns: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>) -> Route {
        Route::Resource(ResourcePath {
            group: group.into(),
            version: "v1".into(),
            namespace: ns.map(Into::into),
            plural: plural.into(),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
        })
    }

    #[test]
    fn routes() {
        assert_eq!(route("/api/v1/namespaces"), rp("", None, "namespaces", None, None));
        assert_eq!(route("/api/v1/namespaces/x"), rp("", None, "namespaces", Some("x"), None));
        assert_eq!(route("/api/v1/namespaces/x/status"), rp("", None, "namespaces", Some("x"), Some("status")));
        assert_eq!(route("/api/v1/namespaces/d/configmaps"), rp("", Some("d"), "configmaps", None, None));
        assert_eq!(
            route("/apis/apps/v1/namespaces/d/deployments/x/status"),
            rp("apps", Some("d"), "deployments", Some("x"), Some("status"))
        );
        assert_eq!(route("/apis/apps/v1/deployments"), rp("apps", None, "deployments", None, None));
        assert_eq!(route("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(route("/api/v1/a/b/c/d"), Route::Unknown);
    }
}
