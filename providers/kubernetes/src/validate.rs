//! Offline validation of Kubernetes manifests: the checks the API server would make on
//! identity and metadata, reported with key paths into the manifest before anything is sent.

use serde_json::Value;
use strata_sdk::{
    OWNERSHIP_ADDRESS_KEY, OWNERSHIP_ENV_KEY, OWNERSHIP_MANAGED_BY_KEY, OWNERSHIP_MANAGED_BY_VALUE,
    OWNERSHIP_PROJECT_KEY,
};

use crate::kinds::{KindRef, NameRule, builtin_namespaced, name_rule, split_management};

/// One validation problem: a key path into the manifest and a message.
pub type Problem = (Vec<String>, String);

fn p(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| s.to_string()).collect()
}

/// Validates a manifest for `kind` (`"{apiVersion}/{Kind}"`). `has_default_namespace` tells
/// whether the provider config names a default namespace, which makes `metadata.namespace`
/// optional for namespaced kinds.
pub fn validate_manifest(kind: &str, attrs: &Value, has_default_namespace: bool) -> Vec<Problem> {
    // A field-managed resource (`fields:` kind) names its object the same way.
    let kind = split_management(kind).1;
    let mut out = Vec::new();
    let Some(k) = KindRef::parse(kind) else {
        out.push((
            Vec::new(),
            format!(
                "kind `{kind}` is not of the form `{{apiVersion}}/{{Kind}}` (`v1/ConfigMap`, `apps/v1/Deployment`)"
            ),
        ));
        return out;
    };
    let Some(obj) = attrs.as_object() else {
        out.push((Vec::new(), "a Kubernetes manifest must be a mapping".into()));
        return out;
    };

    match obj.get("apiVersion") {
        None => out.push((p(&["apiVersion"]), format!("apiVersion is required (expected `{}`)", k.api_version()))),
        Some(Value::String(v)) if *v == k.api_version() => {}
        Some(v) => out.push((
            p(&["apiVersion"]),
            format!(
                "apiVersion {} does not match the resource kind `{kind}` (expected `{}`)",
                show(v),
                k.api_version()
            ),
        )),
    }
    match obj.get("kind") {
        None => out.push((p(&["kind"]), format!("kind is required (expected `{}`)", k.kind))),
        Some(Value::String(v)) if *v == k.kind => {}
        Some(v) => out.push((
            p(&["kind"]),
            format!("kind {} does not match the resource kind `{kind}` (expected `{}`)", show(v), k.kind),
        )),
    }

    let meta = match obj.get("metadata") {
        None => {
            out.push((p(&["metadata"]), "metadata with a name is required".into()));
            return out;
        }
        Some(Value::Object(m)) => m,
        Some(_) => {
            out.push((p(&["metadata"]), "metadata must be a mapping".into()));
            return out;
        }
    };

    match meta.get("name") {
        None if meta.contains_key("generateName") => out.push((
            p(&["metadata", "generateName"]),
            "generateName is not supported: strata needs a fixed metadata.name to find the object again".into(),
        )),
        None => out.push((p(&["metadata", "name"]), "metadata.name is required".into())),
        Some(Value::String(name)) => {
            let rule = name_rule(&k);
            if let Some(why) = check_name(name, rule) {
                out.push((p(&["metadata", "name"]), format!("invalid name {name:?}: {why}")));
            }
        }
        Some(v) => out.push((p(&["metadata", "name"]), format!("metadata.name must be a string, not {}", show(v)))),
    }

    let scope = builtin_namespaced(&k);
    match meta.get("namespace") {
        None => {
            if scope == Some(true) && !has_default_namespace {
                out.push((
                    p(&["metadata", "namespace"]),
                    format!(
                        "{} is namespaced: set metadata.namespace (or a default `namespace` in providers.kubernetes)",
                        k.kind
                    ),
                ));
            }
        }
        Some(Value::String(ns)) => {
            if scope == Some(false) {
                out.push((
                    p(&["metadata", "namespace"]),
                    format!("{} is cluster-scoped: remove metadata.namespace", k.kind),
                ));
            } else if let Some(why) = check_dns1123_label(ns) {
                out.push((p(&["metadata", "namespace"]), format!("invalid namespace {ns:?}: {why}")));
            }
        }
        Some(v) => {
            out.push((p(&["metadata", "namespace"]), format!("metadata.namespace must be a string, not {}", show(v))))
        }
    }

    check_string_map(meta, "labels", true, &mut out);
    check_string_map(meta, "annotations", false, &mut out);
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn check_string_map(meta: &serde_json::Map<String, Value>, field: &str, labels: bool, out: &mut Vec<Problem>) {
    let Some(v) = meta.get(field) else { return };
    let Some(map) = v.as_object() else {
        out.push((p(&["metadata", field]), format!("metadata.{field} must be a mapping of strings")));
        return;
    };
    let mut total = 0usize;
    for (key, value) in map {
        let path = p(&["metadata", field, key]);
        if let Some(why) = check_qualified_name(key) {
            out.push((path.clone(), format!("invalid {field} key {key:?}: {why}")));
        }
        let Some(s) = value.as_str() else {
            out.push((path, format!("{field} values must be strings, not {} (quote it)", show(value))));
            continue;
        };
        total += key.len() + s.len();
        if labels {
            if let Some(why) = check_label_value(s) {
                out.push((path.clone(), format!("invalid label value {s:?}: {why}")));
            }
            let reserved = key == OWNERSHIP_PROJECT_KEY || key == OWNERSHIP_ENV_KEY;
            if reserved || (key == OWNERSHIP_MANAGED_BY_KEY && s != OWNERSHIP_MANAGED_BY_VALUE) {
                out.push((path, format!("label {key} is set by strata to mark ownership; remove it")));
            }
        } else if key == OWNERSHIP_ADDRESS_KEY {
            out.push((path, format!("annotation {key} is set by strata to mark ownership; remove it")));
        }
    }
    if !labels && total > 256 * 1024 {
        out.push((p(&["metadata", field]), format!("annotations total {total} bytes; the limit is 256 KiB")));
    }
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label (`my-name`): why it is invalid, or `None`.
pub fn check_dns1123_label(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > 63 {
        return Some(format!("must be at most 63 characters (is {})", s.len()));
    }
    if !s.chars().all(|c| is_lower_alnum(c) || c == '-') {
        return Some("must consist of lowercase letters, digits and '-' (RFC 1123 label)".into());
    }
    if !s.starts_with(is_lower_alnum) || !s.ends_with(is_lower_alnum) {
        return Some("must start and end with a lowercase letter or digit".into());
    }
    None
}

/// RFC 1123 subdomain (`my.name-1`): why it is invalid, or `None`.
pub fn check_dns1123_subdomain(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > 253 {
        return Some(format!("must be at most 253 characters (is {})", s.len()));
    }
    if !s.chars().all(|c| is_lower_alnum(c) || c == '-' || c == '.') {
        return Some("must consist of lowercase letters, digits, '-' and '.' (RFC 1123 subdomain)".into());
    }
    for part in s.split('.') {
        if part.is_empty() || !part.starts_with(is_lower_alnum) || !part.ends_with(is_lower_alnum) {
            return Some("each '.'-separated part must start and end with a lowercase letter or digit".into());
        }
    }
    None
}

fn check_name(s: &str, rule: NameRule) -> Option<String> {
    match rule {
        NameRule::Dns1123Label => check_dns1123_label(s),
        NameRule::Dns1035Label => check_dns1123_label(s).or_else(|| {
            (!s.starts_with(|c: char| c.is_ascii_lowercase()))
                .then(|| "must start with a lowercase letter (RFC 1035 label)".to_string())
        }),
        NameRule::Dns1123Subdomain => check_dns1123_subdomain(s),
        NameRule::PathSegment => {
            if s.is_empty() {
                Some("must not be empty".into())
            } else if s == "." || s == ".." {
                Some("must not be `.` or `..`".into())
            } else if s.contains('/') || s.contains('%') {
                Some("must not contain '/' or '%'".into())
            } else {
                None
            }
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// A label value: empty, or at most 63 of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
pub fn check_label_value(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if s.len() > 63 {
        return Some(format!("must be at most 63 characters (is {})", s.len()));
    }
    if !s.chars().all(is_name_char) {
        return Some("may contain only letters, digits, '-', '_' and '.'".into());
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) || !s.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("must start and end with a letter or digit".into());
    }
    None
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63
/// of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
pub fn check_qualified_name(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    if let Some(prefix) = prefix
        && let Some(why) = check_dns1123_subdomain(prefix)
    {
        return Some(format!("prefix {prefix:?} {why}"));
    }
    if name.is_empty() {
        return Some("the name part must not be empty".into());
    }
    if name.contains('/') {
        return Some("may contain at most one '/'".into());
    }
    check_label_value(name).map(|why| format!("the name part {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(kind: &str, v: Value) -> Vec<(String, String)> {
        validate_manifest(kind, &v, false).into_iter().map(|(p, m)| (p.join("."), m)).collect()
    }

    #[test]
    fn a_valid_configmap_passes() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "edge-config", "namespace": "apex",
                         "labels": {"app.kubernetes.io/name": "edge", "tier": ""},
                         "annotations": {"note": "anything: goes here!"}},
            "data": {"a": "b"}});
        assert_eq!(problems("v1/ConfigMap", v), vec![]);
    }

    #[test]
    fn reports_missing_and_mismatched_type_fields() {
        let v = json!({"apiVersion": "apps/v1", "metadata": {"name": "x", "namespace": "a"}});
        let ps = problems("v1/ConfigMap", v);
        assert_eq!(ps.len(), 2, "{ps:?}");
        assert_eq!(ps[0].0, "apiVersion");
        assert!(ps[0].1.contains("expected `v1`"), "{}", ps[0].1);
        assert_eq!(ps[1].0, "kind");
        assert!(ps[1].1.contains("kind is required"));
        let ps = problems(
            "apps/v1/Deployment",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x", "namespace": "a"}}),
        );
        assert_eq!(ps[0].0, "kind");
        assert!(ps[0].1.contains("`StatefulSet` does not match"), "{}", ps[0].1);
        assert!(!problems("Deployment", json!({})).is_empty());
    }

    #[test]
    fn checks_names_by_kind() {
        let ps =
            problems("v1/ConfigMap", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "a"}}));
        assert_eq!(ps, vec![("metadata.name".to_string(), "metadata.name is required".to_string())]);
        let ps = problems(
            "v1/ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Edge_Config", "namespace": "a"}}),
        );
        assert_eq!(ps[0].0, "metadata.name");
        assert!(ps[0].1.contains("RFC 1123 subdomain"), "{}", ps[0].1);
        // dots are fine for a ConfigMap, not for a Service or a Namespace
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a.b", "namespace": "a"}});
        assert!(problems("v1/ConfigMap", cm).is_empty());
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a.b", "namespace": "a"}});
        assert!(problems("v1/Service", svc)[0].1.contains("RFC 1123 label"));
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1api", "namespace": "a"}});
        assert!(problems("v1/Service", svc)[0].1.contains("RFC 1035 label"));
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x".repeat(64)}});
        assert!(problems("v1/Namespace", ns)[0].1.contains("at most 63"));
        let cr = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:aggregate-to-view"}});
        assert!(problems("rbac.authorization.k8s.io/v1/ClusterRole", cr).is_empty());
        let gen_name = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"generateName": "x-", "namespace": "a"}});
        assert_eq!(problems("v1/ConfigMap", gen_name)[0].0, "metadata.generateName");
    }

    #[test]
    fn checks_namespace_by_scope() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        let ps = problems("v1/ConfigMap", cm.clone());
        assert_eq!(ps[0].0, "metadata.namespace");
        assert!(ps[0].1.contains("ConfigMap is namespaced"), "{}", ps[0].1);
        assert!(validate_manifest("v1/ConfigMap", &cm, true).is_empty());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}});
        assert!(problems("v1/Namespace", ns)[0].1.contains("cluster-scoped"));
        // unknown kinds: scope unknown offline, namespace not demanded
        let vs = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "x"}});
        assert!(problems("networking.istio.io/v1/VirtualService", vs).is_empty());
        let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "Bad_NS"}});
        assert!(problems("v1/ConfigMap", bad)[0].1.contains("invalid namespace"));
    }

    #[test]
    fn checks_labels_and_annotations() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a",
            "labels": {"good/key": "ok", "bad key": "v", "k": "-bad", "n": 3, "Not_A.Domain/x": "v",
                       "strata.dev/project": "other"},
            "annotations": {"a/b/c": "x", "strata.dev/address": "x.y", "fine": "∀ values"}}});
        let ps = problems("v1/ConfigMap", v);
        let find = |path: &str| {
            ps.iter()
                .find(|(p, _)| p == path)
                .map(|(_, m)| m.clone())
                .unwrap_or_else(|| panic!("no problem at {path}: {ps:?}"))
        };
        assert!(find("metadata.labels.bad key").contains("invalid labels key"));
        assert!(find("metadata.labels.k").contains("invalid label value"));
        assert!(find("metadata.labels.n").contains("must be strings"));
        assert!(find("metadata.labels.Not_A.Domain/x").contains("prefix"));
        assert!(find("metadata.labels.strata.dev/project").contains("set by strata"));
        assert!(find("metadata.annotations.a/b/c").contains("at most one '/'"));
        assert!(find("metadata.annotations.strata.dev/address").contains("set by strata"));
        assert!(!ps.iter().any(|(p, _)| p == "metadata.labels.good/key"));
        assert!(!ps.iter().any(|(p, _)| p == "metadata.annotations.fine"));
    }
}
