//! Lists merged by key (`x-kubernetes-list-type: map`), as server-side apply
//! merges them for the built-in kinds: two managers can own different
//! containers, env vars or ports of one list, and an apply by one leaves the
//! other's entries alone.
//!
//! This server has no OpenAPI schemas, so the keys come from a table of the
//! `x-kubernetes-list-map-keys` of the built-in types (the same keys as their
//! strategic-merge `patchMergeKey`s), chosen by the list's field name and,
//! for `ports`, where it is. Custom resources keep atomic lists (their CRD
//! schemas are not read).
//!
//! In a field path an entry of such a list is one element: `\0k:` followed
//! by the JSON of its key fields (`\0k:{"name":"app"}`), rendered as
//! `k:{"name":"app"}` in `fieldsV1` and `[name="app"]` in messages.

use serde_json::{Map, Value};

/// Whether a write's lists are merged by key (built-in kinds) or atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lists {
    Atomic,
    ByKey,
}

const ITEM: &str = "\0k:";

/// Key fields with a default the apiserver fills in (a port's protocol), so
/// an entry that omits them still has a key.
fn default_of(field: &str) -> Option<Value> {
    (field == "protocol").then(|| Value::String("TCP".into()))
}

/// The map keys of the list at `path` (a path of field names and entry
/// elements), or `None` for an atomic list.
pub fn keys_at(path: &[String]) -> Option<&'static [&'static str]> {
    let (last, parents) = path.split_last()?;
    let in_item = parents.last().is_some_and(|p| is_item(p));
    Some(match last.as_str() {
        "containers" | "initContainers" | "ephemeralContainers" => &["name"],
        "env" | "volumes" | "imagePullSecrets" | "resourceClaims" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "conditions" => &["type"],
        "ownerReferences" if parents == ["metadata"] => &["uid"],
        // A Service's ports, and a container's.
        "ports" if parents == ["spec"] => &["port", "protocol"],
        "ports" if in_item => &["containerPort", "protocol"],
        _ => return None,
    })
}

/// The key of one list entry (sorted by field name), or `None` when it lacks
/// a key field.
fn key_of(item: &Value, keys: &[&str]) -> Option<Map<String, Value>> {
    let obj = item.as_object()?;
    let mut key: Vec<(String, Value)> = Vec::new();
    for k in keys {
        let v = obj.get(*k).filter(|v| !v.is_null()).cloned().or_else(|| default_of(k))?;
        key.push(((*k).to_string(), v));
    }
    key.sort_by(|a, b| a.0.cmp(&b.0));
    Some(key.into_iter().collect())
}

/// The path elements of every entry of `items`, when the list at `path` is
/// merged by key and every entry has a distinct key; `None` otherwise (the
/// list is then an atomic leaf).
pub fn entries(items: &[Value], path: &[String], lists: Lists) -> Option<Vec<String>> {
    if lists == Lists::Atomic || items.is_empty() {
        return None;
    }
    let keys = keys_at(path)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let element = element(&key_of(item, keys)?);
        if out.contains(&element) {
            return None;
        }
        out.push(element);
    }
    Some(out)
}

fn element(key: &Map<String, Value>) -> String {
    format!("{ITEM}{}", Value::Object(key.clone()))
}

pub fn is_item(element: &str) -> bool {
    element.starts_with(ITEM)
}

/// The key fields an entry element names.
pub fn item_key(element: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(element.strip_prefix(ITEM)?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Whether a list entry has the key `element` names.
pub fn matches(item: &Value, key: &Map<String, Value>) -> bool {
    let Some(obj) = item.as_object() else { return false };
    key.iter()
        .all(|(k, want)| obj.get(k).filter(|v| !v.is_null()).cloned().or_else(|| default_of(k)).as_ref() == Some(want))
}

/// `k:{"name":"app"}`, the `fieldsV1` spelling of an element.
pub fn fields_v1_key(element: &str) -> Option<String> {
    element.strip_prefix(ITEM).map(|json| format!("k:{json}"))
}

/// `[name="app"]`, the spelling of an element in conflict messages.
pub fn display(element: &str) -> Option<String> {
    let key = item_key(element)?;
    let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Some(format!("[{}]", parts.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn keys_by_field_and_place() {
        assert_eq!(keys_at(&p(&["spec", "template", "spec", "containers"])), Some(&["name"][..]));
        assert_eq!(keys_at(&p(&["spec", "ports"])), Some(&["port", "protocol"][..]));
        let container = element(&Map::from_iter([("name".to_string(), json!("app"))]));
        let ports = vec!["spec".into(), "containers".into(), container, "ports".into()];
        assert_eq!(keys_at(&ports), Some(&["containerPort", "protocol"][..]));
        assert_eq!(keys_at(&p(&["spec", "http"])), None);
    }

    #[test]
    fn entries_need_distinct_complete_keys() {
        let path = p(&["spec", "ports"]);
        let es = entries(&[json!({"port": 80}), json!({"port": 80, "protocol": "UDP"})], &path, Lists::ByKey).unwrap();
        assert_eq!(display(&es[0]).unwrap(), "[port=80,protocol=\"TCP\"]");
        assert_eq!(fields_v1_key(&es[1]).unwrap(), "k:{\"port\":80,\"protocol\":\"UDP\"}");
        assert!(matches(&json!({"port": 80}), &item_key(&es[0]).unwrap()));
        assert_eq!(entries(&[json!({"port": 80}), json!({"port": 80})], &path, Lists::ByKey), None);
        assert_eq!(entries(&[json!({"name": "x"})], &path, Lists::ByKey), None);
        assert_eq!(entries(&[json!({"port": 80})], &path, Lists::Atomic), None);
    }
}
