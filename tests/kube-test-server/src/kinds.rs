//! Per-kind behaviour: validation and the server-side defaults the real
//! apiserver applies (so clients learn to ignore server-set fields).

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceType;
use crate::store::{Store, is_crd};

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

fn invalid(field: String, value: &Value, detail: &str) -> Cause {
    Cause { reason: "FieldValueInvalid".into(), message: format!("Invalid value: {value}: {detail}"), field }
}

fn required(field: &str, detail: &str) -> Cause {
    Cause { reason: "FieldValueRequired".into(), message: format!("Required value{detail}"), field: field.into() }
}

/// Validates a fully assembled object before it is stored.
pub fn validate(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let mut causes = Vec::new();
    let name_ok = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => is_dns_label(name).then_some(()).ok_or(DNS1123_LABEL_MSG),
        ("", "services") => (is_dns_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase()))
            .then_some(())
            .ok_or(DNS1035_LABEL_MSG),
        _ => is_dns_subdomain(name).then_some(()).ok_or(DNS1123_SUBDOMAIN_MSG),
    };
    if name.is_empty() {
        causes.push(required("metadata.name", ": name or generateName is required"));
    } else if let Err(msg) = name_ok {
        causes.push(invalid("metadata.name".into(), &json!(name), msg));
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_label_key(k) {
                causes.push(invalid("metadata.labels".into(), &json!(k), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
            }
            match v.as_str() {
                Some(s) if is_label_value(s) => {}
                _ => causes.push(invalid("metadata.labels".into(), v, LABEL_VALUE_MSG)),
            }
        }
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => validate_deployment(obj, &mut causes),
        _ if is_crd(rt) => validate_crd(obj, name, &mut causes),
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid { group: rt.group.clone(), kind: rt.kind.clone(), name: name.to_string(), causes })
    }
}

fn validate_deployment(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(selector) = obj.pointer("/spec/selector").filter(|s| s.is_object()) else {
        causes.push(required("spec.selector", ""));
        return;
    };
    let template_labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
    let wanted = selector.get("matchLabels").and_then(Value::as_object);
    let matches = wanted.is_none_or(|want| want.iter().all(|(k, v)| template_labels.and_then(|l| l.get(k)) == Some(v)));
    if !matches {
        causes.push(invalid(
            "spec.template.metadata.labels".into(),
            &json!(template_labels.cloned().unwrap_or_default()),
            "`selector` does not match template `labels`",
        ));
    }
}

fn validate_crd(obj: &Value, name: &str, causes: &mut Vec<Cause>) {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (group, plural, kind) = (s("/spec/group"), s("/spec/names/plural"), s("/spec/names/kind"));
    if group.is_empty() {
        causes.push(required("spec.group", ""));
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural", ""));
    }
    if kind.is_empty() {
        causes.push(required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(invalid("metadata.name".into(), &json!(name), "must be spec.names.plural+\".\"+spec.group"));
    }
    if !matches!(s("/spec/scope"), "Namespaced" | "Cluster") {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                json!(s("/spec/scope"))
            ),
            field: "spec.scope".into(),
        });
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if versions.is_empty() {
        causes.push(required("spec.versions", ": must have exactly one version marked as storage version"));
    } else {
        let storage = versions.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count();
        if storage != 1 {
            causes.push(invalid(
                "spec.versions".into(),
                &json!(obj.pointer("/spec/versions")),
                "must have exactly one version marked as storage version",
            ));
        }
    }
}

/// Validates a change of a stored object: the fields the apiserver refuses
/// to change once set. Runs after defaulting, so a Service that omits its
/// `clusterIP` keeps the allocated one and passes.
pub fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> ApiResult<()> {
    let mut causes = Vec::new();
    let at = |v: &Value, p: &str| v.pointer(p).cloned();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Service") => {
            let (was, now) = (at(old, "/spec/clusterIP"), at(new, "/spec/clusterIP"));
            let allocated = was.as_ref().and_then(Value::as_str).is_some_and(|ip| !ip.is_empty());
            let external = |v: &Value| v.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
            // Changing to or from ExternalName is the one way to drop a cluster IP.
            if allocated && was != now && !external(old) && !external(new) {
                causes.push(invalid("spec.clusterIP".into(), &now.unwrap_or(json!("")), "field is immutable"));
            }
        }
        ("apps", "Deployment") if at(old, "/spec/selector") != at(new, "/spec/selector") => {
            let shown = go_label_selector(new.pointer("/spec/selector"));
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {shown}: field is immutable"),
                field: "spec.selector".into(),
            });
        }
        ("", "ConfigMap") | ("", "Secret") if old.get("immutable").and_then(Value::as_bool) == Some(true) => {
            let forbidden = |field: &str| Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: field is immutable when `immutable` is set".into(),
                field: field.into(),
            };
            if new.get("immutable").and_then(Value::as_bool) != Some(true) {
                causes.push(forbidden("immutable"));
            }
            let data_fields: &[&str] = if rt.kind == "Secret" { &["data"] } else { &["data", "binaryData"] };
            for f in data_fields {
                if old.get(*f) != new.get(*f) {
                    causes.push(forbidden(f));
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = new.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    Err(ApiError::Invalid { group: rt.group.clone(), kind: rt.kind.clone(), name, causes })
}

/// A label selector the way the apiserver prints it in validation errors
/// (Go's `%#v` of a `v1.LabelSelector`).
fn go_label_selector(selector: Option<&Value>) -> String {
    let labels: Vec<String> = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .map(|m| {
            let mut pairs: Vec<_> = m.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            pairs.iter().map(|(k, v)| format!("{:?}:{}", k, json!(v.as_str().unwrap_or_default()))).collect()
        })
        .unwrap_or_default();
    let labels = if labels.is_empty() {
        "map[string]string(nil)".into()
    } else {
        format!("map[string]string{{{}}}", labels.join(", "))
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}")
}

/// Server-side defaulting, run after field ownership is computed so that
/// defaulted fields belong to nobody (as with real server-side apply).
pub fn apply_defaults(store: &mut Store, rt: &ResourceType, obj: &mut Value, old: Option<&Value>) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            let name = obj.pointer("/metadata/name").cloned().unwrap_or_default();
            object_at(&mut obj["metadata"], "labels").insert("kubernetes.io/metadata.name".into(), name);
            object_at(obj, "spec").entry("finalizers").or_insert_with(|| json!(["kubernetes"]));
            object_at(obj, "status").insert("phase".into(), "Active".into());
        }
        ("", "services") => default_service(store, obj, old),
        ("", "secrets") => default_secret(obj),
        _ if is_crd(rt) => default_crd_status(obj, old),
        _ => {}
    }
}

/// `obj[key]` as an object, created (or replaced if not an object).
fn object_at<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("just made an object");
    let slot = map.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("just made an object")
}

fn default_service(store: &mut Store, obj: &mut Value, old: Option<&Value>) {
    let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).and_then(Value::as_str).map(str::to_string);
    let spec = object_at(obj, "spec");
    let ty = spec.entry("type").or_insert_with(|| "ClusterIP".into()).as_str().unwrap_or("ClusterIP").to_string();
    spec.entry("sessionAffinity").or_insert_with(|| "None".into());
    if ty != "ExternalName" {
        // The cluster IP is immutable: keep the allocated one across
        // updates that omit it.
        let ip = match spec.get("clusterIP").and_then(Value::as_str) {
            Some(ip) if !ip.is_empty() => ip.to_string(),
            _ => old_ip.unwrap_or_else(|| store.allocate_cluster_ip()),
        };
        spec.insert("clusterIP".into(), ip.clone().into());
        spec.insert("clusterIPs".into(), json!([ip]));
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert_with(|| "SingleStack".into());
        spec.entry("internalTrafficPolicy").or_insert_with(|| "Cluster".into());
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert_with(|| "TCP".into());
            if let Some(p) = port.get("port").cloned() {
                port.entry("targetPort").or_insert(p);
            }
        }
    }
    object_at(obj, "status").entry("loadBalancer").or_insert_with(|| json!({}));
}

/// `stringData` is write-only: it is folded into base64 `data`.
fn default_secret(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    map.entry("type").or_insert_with(|| "Opaque".into());
    if let Some(Value::Object(string_data)) = map.shift_remove("stringData") {
        let data = object_at(obj, "data");
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or_default();
            data.insert(k, base64(s.as_bytes()).into());
        }
    }
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A CRD is accepted and established at once; `storedVersions` only grows.
fn default_crd_status(obj: &mut Value, old: Option<&Value>) {
    let mut names = obj.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    if names.get("singular").is_none() {
        names["singular"] = kind.to_lowercase().into();
    }
    if names.get("listKind").is_none() {
        names["listKind"] = format!("{kind}List").into();
    }
    let mut stored: Vec<Value> =
        old.and_then(|o| o.pointer("/status/storedVersions")).and_then(Value::as_array).cloned().unwrap_or_default();
    let storage = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v.get("storage").and_then(Value::as_bool) == Some(true)))
        .and_then(|v| v.get("name"))
        .cloned();
    if let Some(s) = storage
        && !stored.contains(&s)
    {
        stored.push(s);
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let since =
        old.and_then(|o| o.pointer("/status/conditions/0/lastTransitionTime")).cloned().unwrap_or_else(|| now.into());
    let condition = |ty: &str, reason: &str, message: &str| json!({"type": ty, "status": "True", "lastTransitionTime": since, "reason": reason, "message": message});
    obj["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hello world"), "aGVsbG8gd29ybGQ=");
    }

    #[test]
    fn names_and_labels() {
        assert!(is_dns_subdomain("a.b-c.d"));
        assert!(!is_dns_subdomain("A"));
        assert!(!is_dns_label("a.b"));
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_value("-x"));
        assert!(is_label_value(""));
    }
}
