//! The kinds, one table row each: where a resource lives in ARM (its collection under the
//! profile, its parent), the request body built from a resource document, the document
//! projected back from what ARM returns, outputs, and offline validation.
//!
//! Documents keep ARM's shape (`properties` as the API spells them) beside the names that
//! place the resource: `{"name", "profile", <parent>, "sku", "tags", "properties"}`.

use serde_json::{Map, Value, json};

use crate::error::{AzureError, Result};

/// One kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    /// The collection segment (`originGroups`).
    pub segment: &'static str,
    /// The document key naming the parent and the parent's collection segment, for kinds
    /// nested below a profile's child (`origin` under `origin_group`).
    pub parent: Option<(&'static str, &'static str)>,
    /// ARM tracked resources (location + tags): strata's marks live in their tags.
    pub tracked: bool,
    /// Top-level document keys besides `name`, `profile` and the parent key.
    pub keys: &'static [&'static str],
}

pub const PROFILE: Kind =
    Kind { name: "profile", segment: "profiles", parent: None, tracked: true, keys: &["sku", "tags", "properties"] };
pub const AFD_ENDPOINT: Kind =
    Kind { name: "afd_endpoint", segment: "afdEndpoints", parent: None, tracked: true, keys: &["tags", "properties"] };
pub const ORIGIN_GROUP: Kind =
    Kind { name: "origin_group", segment: "originGroups", parent: None, tracked: false, keys: &["properties"] };
pub const ORIGIN: Kind = Kind {
    name: "origin",
    segment: "origins",
    parent: Some(("origin_group", "originGroups")),
    tracked: false,
    keys: &["properties"],
};
pub const ROUTE: Kind = Kind {
    name: "route",
    segment: "routes",
    parent: Some(("endpoint", "afdEndpoints")),
    tracked: false,
    keys: &["properties"],
};
pub const RULE_SET: Kind = Kind { name: "rule_set", segment: "ruleSets", parent: None, tracked: false, keys: &[] };
pub const RULE: Kind = Kind {
    name: "rule",
    segment: "rules",
    parent: Some(("rule_set", "ruleSets")),
    tracked: false,
    keys: &["properties"],
};
pub const CUSTOM_DOMAIN: Kind =
    Kind { name: "custom_domain", segment: "customDomains", parent: None, tracked: false, keys: &["properties"] };
pub const SECURITY_POLICY: Kind =
    Kind { name: "security_policy", segment: "securityPolicies", parent: None, tracked: false, keys: &["properties"] };

pub const KINDS: &[Kind] =
    &[PROFILE, AFD_ENDPOINT, ORIGIN_GROUP, ORIGIN, ROUTE, RULE_SET, RULE, CUSTOM_DOMAIN, SECURITY_POLICY];
pub const KIND_NAMES: &[&str] = &[
    "profile",
    "afd_endpoint",
    "origin_group",
    "origin",
    "route",
    "rule_set",
    "rule",
    "custom_domain",
    "security_policy",
];

pub fn kind(name: &str) -> Result<Kind> {
    KINDS.iter().copied().find(|k| k.name == name).ok_or_else(|| AzureError::UnknownKind(name.to_string()))
}

/// Tag keys of strata's ownership marks. ARM tag names cannot hold `/`, so the SDK's
/// Kubernetes-style keys are spelled with `-` here.
pub const TAG_MANAGED_BY: &str = "strata-managed-by";
pub const TAG_PROJECT: &str = "strata-project";
pub const TAG_ENV: &str = "strata-env";
pub const TAG_ADDRESS: &str = "strata-address";
const MARK_KEYS: &[&str] = &[TAG_MANAGED_BY, TAG_PROJECT, TAG_ENV, TAG_ADDRESS];

/// Where one resource lives: its profile, the parent below the profile (nested kinds), its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Locator {
    pub kind: &'static str,
    pub profile: String,
    pub parent: Option<String>,
    pub name: String,
}

impl Locator {
    pub fn from_attrs(k: Kind, attrs: &Value) -> Result<Locator> {
        let get = |key: &str| {
            attrs
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| AzureError::invalid(k.name, format!("`{key}` is required")))
        };
        let name = get("name")?;
        let profile = if k.name == PROFILE.name { name.clone() } else { get("profile")? };
        let parent = match k.parent {
            Some((key, _)) => Some(get(key)?),
            None => None,
        };
        Ok(Locator { kind: k.name, profile, parent, name })
    }

    /// From an ARM id `/subscriptions/S/resourceGroups/RG/providers/Microsoft.Cdn/profiles/P/...`.
    pub fn from_id(k: Kind, id: &str) -> Result<Locator> {
        let bad = || AzureError::invalid(k.name, format!("`{id}` is not the ARM id of a Front Door {}", k.name));
        let after = id.split_once("/profiles/").map(|(_, a)| a).ok_or_else(bad)?;
        let segs: Vec<&str> = after.split('/').collect();
        let expected = match (k.name == PROFILE.name, k.parent.is_some()) {
            (true, _) => 1,
            (false, false) => 3,
            (false, true) => 5,
        };
        if segs.len() != expected || segs.iter().any(|s| s.is_empty()) {
            return Err(bad());
        }
        let parent = k.parent.map(|_| segs[2].to_string());
        Ok(Locator { kind: k.name, profile: segs[0].to_string(), parent, name: segs[segs.len() - 1].to_string() })
    }

    /// The collection path holding this resource (`.../profiles/P/originGroups`).
    pub fn collection(&self, scope: &str) -> String {
        let k = kind(self.kind).expect("locators are built from known kinds");
        if k.name == PROFILE.name {
            return format!("{scope}/profiles");
        }
        let mut out = format!("{scope}/profiles/{}", self.profile);
        if let (Some((_, seg)), Some(p)) = (k.parent, &self.parent) {
            out.push_str(&format!("/{seg}/{p}"));
        }
        out.push('/');
        out.push_str(k.segment);
        out
    }

    pub fn path(&self, scope: &str) -> String {
        format!("{}/{}", self.collection(scope), self.name)
    }

    pub fn profile_path(&self, scope: &str) -> String {
        format!("{scope}/profiles/{}", self.profile)
    }
}

/// Strata's marks as tags.
pub fn marks(project: &str, env: &str, address: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(TAG_MANAGED_BY.into(), json!("strata"));
    m.insert(TAG_PROJECT.into(), json!(project));
    m.insert(TAG_ENV.into(), json!(env));
    m.insert(TAG_ADDRESS.into(), json!(address));
    m
}

/// The PUT body for a document (`None`: the operation takes no body).
pub fn body(k: Kind, attrs: &Value, marks: Map<String, Value>) -> Option<Value> {
    if k.name == RULE_SET.name {
        return None;
    }
    let mut out = Map::new();
    if k.tracked {
        out.insert("location".into(), json!("Global"));
        let mut tags = attrs.get("tags").and_then(Value::as_object).cloned().unwrap_or_default();
        tags.extend(marks);
        out.insert("tags".into(), Value::Object(tags));
    }
    if let Some(sku) = attrs.get("sku") {
        out.insert("sku".into(), sku.clone());
    }
    out.insert("properties".into(), attrs.get("properties").cloned().unwrap_or_else(|| json!({})));
    Some(Value::Object(out))
}

/// Properties ARM computes (never in a document).
const OUTPUT_ONLY: &[&str] = &[
    "provisioningState",
    "deploymentStatus",
    "resourceState",
    "frontDoorId",
    "extendedProperties",
    "profileName",
    "endpointName",
    "originGroupName",
    "ruleSetName",
    "validationProperties",
    "domainValidationState",
];

/// The document a remote object stands for (server defaults included; the engine compares only
/// what the spec sets).
pub fn project(k: Kind, loc: &Locator, remote: &Value) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(remote["name"].as_str().unwrap_or(&loc.name)));
    if k.name != PROFILE.name {
        out.insert("profile".into(), json!(loc.profile));
    }
    if let (Some((key, _)), Some(p)) = (k.parent, &loc.parent) {
        out.insert(key.into(), json!(p));
    }
    if let Some(sku) = remote.get("sku") {
        out.insert("sku".into(), sku.clone());
    }
    if k.tracked {
        let tags: Map<String, Value> = remote["tags"]
            .as_object()
            .map(|t| {
                t.iter()
                    .filter(|(key, _)| !MARK_KEYS.contains(&key.as_str()))
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if !tags.is_empty() {
            out.insert("tags".into(), Value::Object(tags));
        }
    }
    if k.name != RULE_SET.name {
        let mut props = remote["properties"].as_object().cloned().unwrap_or_default();
        for key in OUTPUT_ONLY {
            props.remove(*key);
        }
        if k.name == AFD_ENDPOINT.name {
            props.remove("hostName");
        }
        out.insert("properties".into(), Value::Object(props));
    }
    Value::Object(out)
}

/// Values only ARM knows.
pub fn outputs(k: Kind, remote: &Value) -> Value {
    let mut out = json!({"id": remote["id"], "name": remote["name"]});
    let props = &remote["properties"];
    match k.name {
        "profile" => out["front_door_id"] = props["frontDoorId"].clone(),
        "afd_endpoint" => {
            out["host_name"] = props["hostName"].clone();
            // As CloudFront's and Cloudflare's entries: `${cdn.<name>.domain_name}`.
            out["domain_name"] = props["hostName"].clone();
        }
        "custom_domain" => {
            out["host_name"] = props["hostName"].clone();
            out["validation_token"] = props["validationProperties"]["validationToken"].clone();
            out["validation_expiry"] = props["validationProperties"]["expirationDate"].clone();
        }
        _ => {}
    }
    out
}

pub fn output_names(k: Kind) -> Vec<String> {
    let extra: &[&str] = match k.name {
        "profile" => &["front_door_id"],
        "afd_endpoint" => &["host_name", "domain_name"],
        "custom_domain" => &["host_name", "validation_token", "validation_expiry"],
        _ => &[],
    };
    ["id", "name"].iter().chain(extra).map(|s| s.to_string()).collect()
}

fn unresolved(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains("${"))
}

/// ARM names of Front Door resources: letters, digits and inner hyphens.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 260
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Offline checks, as `(path, message)`.
pub fn validate(k: Kind, attrs: &Value) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let at = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let Some(obj) = attrs.as_object() else {
        return vec![(vec![], format!("a `{}` document must be a map", k.name))];
    };
    let mut names = vec!["name"];
    if k.name != PROFILE.name {
        names.push("profile");
    }
    if let Some((key, _)) = k.parent {
        names.push(key);
    }
    for key in &names {
        match obj.get(*key) {
            None => out.push((vec![], format!("`{key}` is required"))),
            Some(v) if unresolved(v) => {}
            Some(Value::String(s)) if valid_name(s) => {}
            Some(v) => out.push((
                at(&[key]),
                format!("{v} is not a Front Door resource name (letters, digits and inner hyphens, at most 260)"),
            )),
        }
    }
    // Front Door's rule: rule set and rule names are a letter, then letters and digits.
    if matches!(k.name, "rule_set" | "rule")
        && let Some(n) = obj.get("name").and_then(Value::as_str)
        && !unresolved(&obj["name"])
        && !(n.starts_with(|c: char| c.is_ascii_alphabetic()) && n.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        out.push((at(&["name"]), format!("`{n}` cannot name a {}: a letter, then letters and digits only", k.name)));
    }
    for key in obj.keys() {
        if !names.contains(&key.as_str()) && !k.keys.contains(&key.as_str()) {
            out.push((
                at(&[key]),
                format!(
                    "unknown key for a `{}` (keys: {})",
                    k.name,
                    names.iter().chain(k.keys).copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let props = &attrs["properties"];
    let required: &[&[&str]] = match k.name {
        "origin" => &[&["hostName"]],
        "route" => &[&["originGroup", "id"]],
        "rule" => &[&["order"], &["actions"]],
        "custom_domain" => &[&["hostName"]],
        "security_policy" => &[&["parameters", "type"]],
        _ => &[],
    };
    for path in required {
        let found = path.iter().try_fold(props, |v, seg| v.get(*seg));
        if found.is_none() {
            let mut p = vec!["properties".to_string()];
            p.extend(path.iter().map(|s| s.to_string()));
            out.push((vec!["properties".into()], format!("`{}` is required", p.join("."))));
        }
    }
    if k.name == PROFILE.name {
        match attrs["sku"]["name"].as_str() {
            Some("Standard_AzureFrontDoor" | "Premium_AzureFrontDoor") => {}
            _ => {
                out.push((at(&["sku"]), "`sku.name` must be Standard_AzureFrontDoor or Premium_AzureFrontDoor".into()))
            }
        }
    }
    if k.tracked
        && let Some(tags) = attrs.get("tags").and_then(Value::as_object)
    {
        for key in tags.keys() {
            if MARK_KEYS.contains(&key.as_str()) || key.chars().any(|c| "<>%&\\?/".contains(c)) {
                out.push((
                    at(&["tags", key]),
                    format!("`{key}` cannot be a tag name here (reserved by strata, or holds one of <>%&\\?/)"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_from_documents_and_ids_agree() {
        let scope = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cdn";
        let doc = json!({"name": "o1", "profile": "p", "origin_group": "og", "properties": {"hostName": "a"}});
        let loc = Locator::from_attrs(ORIGIN, &doc).unwrap();
        assert_eq!(loc.path(scope), format!("{scope}/profiles/p/originGroups/og/origins/o1"));
        assert_eq!(Locator::from_id(ORIGIN, &loc.path(scope)).unwrap(), loc);
        let p = Locator::from_attrs(PROFILE, &json!({"name": "p"})).unwrap();
        assert_eq!(p.path(scope), format!("{scope}/profiles/p"));
        assert_eq!(Locator::from_id(PROFILE, &p.path(scope)).unwrap(), p);
        assert!(Locator::from_id(ORIGIN, &p.path(scope)).is_err());
    }

    #[test]
    fn projection_drops_marks_and_output_only_properties() {
        let remote = json!({"id": "/x", "name": "web", "tags": {"team": "a", TAG_PROJECT: "p"}, "properties": {"hostName": "web-x.z01.azurefd.net", "enabledState": "Enabled", "provisioningState": "Succeeded"}});
        let loc = Locator { kind: "afd_endpoint", profile: "p".into(), parent: None, name: "web".into() };
        assert_eq!(
            project(AFD_ENDPOINT, &loc, &remote),
            json!({"name": "web", "profile": "p", "tags": {"team": "a"}, "properties": {"enabledState": "Enabled"}})
        );
        assert_eq!(outputs(AFD_ENDPOINT, &remote)["host_name"], "web-x.z01.azurefd.net");
    }

    #[test]
    fn validation_reports_paths() {
        let problems = validate(ROUTE, &json!({"name": "r", "profile": "p", "properties": {}, "color": 1}));
        let text: Vec<String> = problems.iter().map(|(p, m)| format!("{}: {m}", p.join("."))).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text.iter().any(|t| t.contains("`endpoint` is required")));
        assert!(text.iter().any(|t| t.starts_with("color: unknown key")));
        assert!(text.iter().any(|t| t.contains("properties.originGroup.id")));
        assert!(validate(PROFILE, &json!({"name": "-bad", "sku": {"name": "Standard_Verizon"}})).len() == 2);
        assert!(validate(ORIGIN_GROUP, &json!({"name": "og", "profile": "${cdn.x.profile.name}"})).is_empty());
        assert_eq!(validate(RULE_SET, &json!({"name": "my-rules", "profile": "p"})).len(), 1);
    }
}
